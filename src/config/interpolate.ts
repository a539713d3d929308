import { ConfigError } from '../core/errors.js';

/**
 * Replaces ${VAR} (and ${VAR:-default}) in every string of a parsed config, so secrets stay out of the
 * file. `$${` stays a literal `${`. A variable that is unset and has no default is an error naming the key.
 */
export function interpolate(
  value: unknown,
  env: NodeJS.ProcessEnv,
  where: (path: (string | number)[]) => string,
  path: (string | number)[] = [],
): unknown {
  if (typeof value === 'string') return substitute(value, env, () => where(path));
  if (Array.isArray(value)) return value.map((item, i) => interpolate(item, env, where, [...path, i]));
  if (value !== null && typeof value === 'object' && !(value instanceof Date)) {
    return Object.fromEntries(
      Object.entries(value).map(([k, v]) => [k, interpolate(v, env, where, [...path, k])]),
    );
  }
  return value;
}

function substitute(text: string, env: NodeJS.ProcessEnv, where: () => string): string {
  return text.replace(/\$\$\{|\$\{([^}]*)(\}?)/g, (_whole, body: string | undefined, closed: string) => {
    if (body === undefined) return '${';
    // A reference cut short ("${PGPASSWORD") is a typo, never a literal value.
    if (!closed)
      throw new ConfigError(`${where()}: "\${" has no closing "}" (a literal "\${" is written "$\${")`);
    const match = /^([A-Za-z_][A-Za-z0-9_]*)(?::-(.*))?$/s.exec(body);
    if (!match)
      throw new ConfigError(
        `${where()}: "\${${body}}" is not a valid variable reference (use \${NAME} or \${NAME:-default})`,
      );
    const [, name, fallback] = match;
    const resolved = env[name!];
    if (fallback !== undefined) return resolved === undefined || resolved === '' ? fallback : resolved;
    if (resolved !== undefined) return resolved;
    throw new ConfigError(`${where()}: environment variable ${name} is not set`);
  });
}
