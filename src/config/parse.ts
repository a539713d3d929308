import fs from 'node:fs';
import { TomlError, parse } from 'smol-toml';
import type { z } from 'zod';
import { ConfigError, errorMessage } from '../core/errors.js';
import { interpolate } from './interpolate.js';
import { describeIssue, formatPath } from './issues.js';

/** A config file's text; a file that cannot be read is a ConfigError naming it. */
export function readConfigFile(file: string): string {
  try {
    return fs.readFileSync(file, 'utf8');
  } catch (error) {
    const reason = (error as NodeJS.ErrnoException).code === 'ENOENT' ? 'no such file' : errorMessage(error);
    throw new ConfigError(`${file}: cannot read config: ${reason}`);
  }
}

/** TOML to plain data; a syntax error names the file, line and column. */
export function parseToml(text: string, file: string): unknown {
  try {
    return parse(text);
  } catch (error) {
    if (error instanceof TomlError) {
      const reason = error.message.split('\n')[0]!.replace(/^Invalid TOML document: /, '');
      throw new ConfigError(`${file}:${error.line}:${error.column}: TOML syntax error: ${reason}`);
    }
    throw error;
  }
}

/** A config checked against its schema: the data when valid, and every problem as `key: message`. */
export interface Validation<T> {
  data: T | undefined;
  /** The parsed file with ${VAR} references filled in (as written where one could not be). */
  input: unknown;
  problems: string[];
}

/**
 * Fills in ${VAR} references from `env` and validates against `schema`: every issue at once, each
 * naming the key path, with a "did you mean" for unknown keys. A key whose ${VAR} could not be
 * filled in reports that, not what its unfilled text would fail.
 */
export function validate<S extends z.ZodType>(
  schema: S,
  raw: unknown,
  env: NodeJS.ProcessEnv,
): Validation<z.output<S>> {
  const { value: input, problems: unresolved } = interpolate(raw, env);
  const problems = unresolved.map((p) => `${formatPath(p.path)}: ${p.message}`);
  // Without zod's compiled fast path: a config is checked once or twice a run, and compiling the
  // checker for each table cost more than it saved (one relay config: 17 to 23 against 21 to 30 ms
  // of CPU, measured).
  const result = schema.safeParse(input, { jitless: true });
  if (result.success && problems.length === 0) return { data: result.data, input, problems };
  const within = (path: readonly PropertyKey[]) =>
    unresolved.some((p) => p.path.every((part, i) => String(path[i]) === String(part)));
  for (const issue of result.error?.issues ?? []) {
    if (!within(issue.path)) problems.push(...describeIssue(issue, input, schema));
  }
  return { data: undefined, input, problems };
}
