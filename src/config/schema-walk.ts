import { z } from 'zod';

type Def = { type: string } & Record<string, unknown>;

export interface ResolvedNode {
  /** The structural definition under wrappers: object, record, array or a leaf. */
  def: Def | undefined;
  /** "duration" or "size" when the value is one (see config/types.ts). */
  unit: string | undefined;
}

function defOf(node: unknown): Def | undefined {
  return (node as { _zod?: { def?: Def } } | null)?._zod?.def;
}

/** Looks through defaults, optionals and transforms, and picks a discriminated union's member by `type`. */
export function resolveNode(schema: unknown, value: unknown): ResolvedNode {
  let node = schema;
  let unit: string | undefined;
  for (;;) {
    unit ??= (z.globalRegistry.get(node as z.ZodType) as { unit?: string } | undefined)?.unit;
    const def = defOf(node);
    switch (def?.type) {
      case 'default':
      case 'prefault':
      case 'optional':
      case 'nullable':
        node = def.innerType;
        continue;
      case 'pipe':
        node = def.in;
        continue;
      case 'union': {
        const wanted = (value as { type?: unknown } | null)?.type;
        const option = (def.options as unknown[]).find((o) => literalType(o) === wanted);
        if (option === undefined) return { def, unit };
        node = option;
        continue;
      }
      default:
        return { def, unit };
    }
  }
}

/** The schema of `key` inside a resolved object, record or array. */
export function childSchema(def: Def | undefined, key: PropertyKey): unknown {
  switch (def?.type) {
    case 'object':
      return (def.shape as Record<string, unknown>)[String(key)];
    case 'record':
      return def.valueType;
    case 'array':
      return def.element;
    default:
      return undefined;
  }
}

function literalType(option: unknown): unknown {
  // A member with a transform (filling in defaults) is a pipe from its object.
  const shape = resolveNode(option, undefined).def?.shape as Record<string, unknown> | undefined;
  return (defOf(shape?.type)?.values as unknown[] | undefined)?.[0];
}
