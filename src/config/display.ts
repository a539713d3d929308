import { stringify } from 'smol-toml';
import type { z } from 'zod';
import { childSchema, resolveNode } from './schema-walk.js';
import { formatDuration } from './units.js';

const SECRET_KEY = /password|secret|token|salt/i;

/**
 * The validated config as TOML, defaults filled in, durations and sizes written with units and
 * secrets masked: what `pgrelay check-config` prints.
 */
export function displayConfig(schema: z.ZodType, config: object & { file?: string }): string {
  const { file: _file, ...rest } = config;
  return stringify(render(schema, rest, ''));
}

function render(schema: unknown, value: unknown, key: string): unknown {
  const { def, unit } = resolveNode(schema, value);
  if (value === undefined || value === null) return unit === 'duration' ? 'off' : undefined;
  if (typeof value === 'number' && unit === 'duration') return value === 0 ? '0' : formatDuration(value);
  if (typeof value === 'number' && unit === 'size') return value;
  if (typeof value === 'string') {
    if (SECRET_KEY.test(key)) return '***';
    if (key === 'dsn') return maskDsn(value);
    return value;
  }
  if (Array.isArray(value)) return value.map((item, i) => render(childSchema(def, i), item, key));
  if (typeof value === 'object') {
    const out: Record<string, unknown> = {};
    for (const [k, v] of Object.entries(value)) {
      const rendered = render(childSchema(def, k), v, k);
      if (rendered !== undefined) out[k] = rendered;
    }
    return out;
  }
  return value;
}

/** Hides the passwords of a postgres:// URL or a key=value connection string. */
export function maskDsn(dsn: string): string {
  if (/^postgres(ql)?:\/\//i.test(dsn)) {
    return (
      dsn
        // URL parsers end the user info at the authority's last "@" and split it at the first ":",
        // so "u:p@ss@host" is user "u" with password "p@ss".
        .replace(
          /^(postgres(?:ql)?:\/\/)([^/?#]*)@/i,
          (_match, scheme: string, userInfo: string) => `${scheme}${userInfo.replace(/:.*$/s, ':***')}@`,
        )
        .replace(/([?&]\w*password=)[^&#]*/gi, '$1***')
    );
  }
  return dsn.replace(/(\b\w*password\s*=\s*)('(?:[^'\\]|\\.)*'|\S+)/gi, '$1***');
}
