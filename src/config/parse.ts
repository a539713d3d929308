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

/**
 * Fills in ${VAR} references from `env` and validates against `schema`: every issue at once, each
 * naming the file and the key path, with a "did you mean" for unknown keys.
 */
export function validate<S extends z.ZodType>(
  schema: S,
  raw: unknown,
  file: string,
  env: NodeJS.ProcessEnv,
): z.output<S> {
  const input = interpolate(raw, env, (keyPath) => `${file}: ${formatPath(keyPath)}`);
  const result = schema.safeParse(input);
  if (!result.success) {
    const lines = result.error.issues.flatMap((issue) => describeIssue(issue, input, schema));
    throw new ConfigError(lines.map((line) => `${file}: ${line}`).join('\n'));
  }
  return result.data;
}
