export type KeyPath = (string | number)[];

/** A reference that could not be resolved, at the key holding it. */
export interface InterpolationProblem {
  path: KeyPath;
  message: string;
}

/**
 * Replaces ${VAR} (and ${VAR:-default}) in every string of a parsed config, so secrets stay out of the
 * file. `$${` stays a literal `${`. A variable that is unset and has no default, or a malformed
 * reference, is a problem naming the key; every problem of the config is returned, and a string
 * with one is left as written.
 */
export function interpolate(
  value: unknown,
  env: NodeJS.ProcessEnv,
): { value: unknown; problems: InterpolationProblem[] } {
  const problems: InterpolationProblem[] = [];
  return { value: walk(value, env, [], problems), problems };
}

function walk(
  value: unknown,
  env: NodeJS.ProcessEnv,
  path: KeyPath,
  problems: InterpolationProblem[],
): unknown {
  if (typeof value === 'string') {
    try {
      return substitute(value, env);
    } catch (error) {
      problems.push({ path, message: (error as Error).message });
      return value;
    }
  }
  if (Array.isArray(value)) return value.map((item, i) => walk(item, env, [...path, i], problems));
  if (value !== null && typeof value === 'object' && !(value instanceof Date)) {
    return Object.fromEntries(
      Object.entries(value).map(([k, v]) => [k, walk(v, env, [...path, k], problems)]),
    );
  }
  return value;
}

function substitute(text: string, env: NodeJS.ProcessEnv): string {
  return text.replace(/\$\$\{|\$\{([^}]*)(\}?)/g, (_whole, body: string | undefined, closed: string) => {
    if (body === undefined) return '${';
    // A reference cut short ("${PGPASSWORD") is a typo, never a literal value.
    if (!closed) throw new Error(`"\${" has no closing "}" (a literal "\${" is written "$\${")`);
    const match = /^([A-Za-z_][A-Za-z0-9_]*)(?::-(.*))?$/s.exec(body);
    if (!match)
      throw new Error(`"\${${body}}" is not a valid variable reference (use \${NAME} or \${NAME:-default})`);
    const [, name, fallback] = match;
    const resolved = env[name!];
    if (fallback !== undefined) return resolved === undefined || resolved === '' ? fallback : resolved;
    if (resolved !== undefined) return resolved;
    throw new Error(`environment variable ${name} is not set`);
  });
}
