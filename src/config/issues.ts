import type { z } from 'zod';
import { childSchema, resolveNode } from './schema-walk.js';

/** `sinks.archive.sources[0]`, quoting keys that are not plain identifiers (`topic_map."public.users"`). */
export function formatPath(path: readonly PropertyKey[]): string {
  let out = '';
  for (const part of path) {
    if (typeof part === 'number') out += `[${part}]`;
    else {
      const key = String(part);
      const plain = /^[A-Za-z0-9_-]+$/.test(key) ? key : JSON.stringify(key);
      out += out === '' ? plain : `.${plain}`;
    }
  }
  return out === '' ? '(top level)' : out;
}

function valueAt(root: unknown, path: readonly PropertyKey[]): unknown {
  let value = root;
  for (const part of path) {
    if (value === null || typeof value !== 'object') return undefined;
    value = (value as Record<PropertyKey, unknown>)[part];
  }
  return value;
}

function describe(value: unknown): string {
  if (value === undefined) return 'nothing';
  if (Array.isArray(value)) return 'an array';
  if (value instanceof Date) return 'a date';
  if (typeof value === 'string') return `the string ${JSON.stringify(value)}`;
  if (typeof value === 'object' && value !== null) return 'a table';
  return `${typeof value} ${JSON.stringify(value)}`;
}

const EXPECTED: Record<string, string> = {
  string: 'a string',
  number: 'a number',
  int: 'an integer',
  boolean: 'true or false',
  array: 'an array',
  object: 'a table',
  record: 'a table',
};

/** One line per problem, for humans: `path: message`. */
export function describeIssue(issue: z.core.$ZodIssue, input: unknown, schema: z.ZodType): string[] {
  const at = (path: readonly PropertyKey[]) => formatPath(path);
  const value = valueAt(input, issue.path);
  switch (issue.code) {
    case 'unrecognized_keys':
      return issue.keys.map((key) => {
        const suggestion = closest(key, knownKeys(schema, input, issue.path));
        return `${at([...issue.path, key])}: unknown key${suggestion ? ` (did you mean "${suggestion}"?)` : ''}`;
      });
    case 'invalid_type':
      if (value === undefined) return [`${at(issue.path)}: is required`];
      return [
        `${at(issue.path)}: expected ${EXPECTED[issue.expected] ?? issue.expected}, got ${describe(value)}`,
      ];
    case 'invalid_value':
      if (value === undefined)
        return [
          `${at(issue.path)}: is required (one of ${issue.values.map((v) => JSON.stringify(v)).join(', ')})`,
        ];
      return [
        `${at(issue.path)}: expected ${issue.values.map((v) => JSON.stringify(v)).join(' or ')}, got ${describe(value)}`,
      ];
    case 'invalid_union': {
      const options = (issue as { options?: unknown[] }).options;
      if (options !== undefined) {
        const listed = options.map((o) => JSON.stringify(o)).join(', ');
        return value === undefined
          ? [`${at(issue.path)}: is required (one of ${listed})`]
          : [`${at(issue.path)}: unknown type ${JSON.stringify(value)} (expected one of ${listed})`];
      }
      return [`${at(issue.path)}: ${issue.message}`];
    }
    case 'too_small':
    case 'too_big':
      return [`${at(issue.path)}: ${describeBound(issue, value)}`];
    case 'invalid_key':
      // A record key failed its own check (a topic_routes pattern); the nested issue says why.
      return issue.issues.map((inner) => `${at(issue.path)}: ${inner.message}`);
    default:
      return [`${at(issue.path)}: ${issue.message}`];
  }
}

/** A bound zod words for programmers ("Too small: expected number to be >0"), in a config file's words. */
function describeBound(issue: z.core.$ZodIssueTooSmall | z.core.$ZodIssueTooBig, value: unknown): string {
  if (!/^Too (small|big):/.test(issue.message)) return issue.message; // the schema's own message
  const small = issue.code === 'too_small';
  const bound = small ? issue.minimum : issue.maximum;
  if (issue.origin === 'number' || issue.origin === 'int' || issue.origin === 'bigint') {
    const relation = small
      ? issue.inclusive
        ? 'at least'
        : 'more than'
      : issue.inclusive
        ? 'at most'
        : 'less than';
    return `must be ${relation} ${bound}, got ${describe(value)}`;
  }
  if (small && Number(bound) === 1) return 'must not be empty';
  return issue.message.toLowerCase();
}

/** The keys a table at `path` may have, following discriminated unions by the `type` present. */
function knownKeys(schema: z.ZodType, input: unknown, path: readonly PropertyKey[]): string[] {
  let node: unknown = schema;
  let value = input;
  for (const key of path) {
    node = childSchema(resolveNode(node, value).def, key);
    value = (value as Record<PropertyKey, unknown> | null)?.[key];
    if (node === undefined) return [];
  }
  const { def } = resolveNode(node, value);
  return def?.type === 'object' ? Object.keys(def.shape as object) : [];
}

/** The known key nearest to a typo, if it is near enough to be a plausible typo. */
export function closest(word: string, candidates: readonly string[]): string | undefined {
  let best: string | undefined;
  let bestDistance = Infinity;
  for (const candidate of candidates) {
    const d = editDistance(word.toLowerCase(), candidate.toLowerCase());
    if (d < bestDistance) {
      best = candidate;
      bestDistance = d;
    }
  }
  return bestDistance <= Math.max(2, Math.floor(word.length / 3)) ? best : undefined;
}

function editDistance(a: string, b: string): number {
  let previous = Array.from({ length: b.length + 1 }, (_, i) => i);
  for (let i = 1; i <= a.length; i++) {
    const current = [i];
    for (let j = 1; j <= b.length; j++) {
      current[j] = Math.min(
        previous[j]! + 1,
        current[j - 1]! + 1,
        previous[j - 1]! + (a[i - 1] === b[j - 1] ? 0 : 1),
      );
    }
    previous = current;
  }
  return previous[b.length]!;
}
