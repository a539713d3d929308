import path from 'node:path';
import { ConfigError } from '../core/errors.js';
import { parseToml, readConfigFile, validate } from '../config/parse.js';
import { type Config, configSchema, handlerSchema, sinkSchema, sourceSchema } from './config-schema.js';
import { type ConfigParts, crossCheck } from './config-checks.js';
import { resolveFiles } from './config-files.js';
import { checkTopicMaps } from './topic-map-check.js';

/**
 * Reads, interpolates and validates a config file. Every problem found is reported at once, each
 * naming the file and the key path (or line and column for TOML syntax errors); nothing starts
 * unless the whole file is valid.
 */
export function loadConfig(file: string, env: NodeJS.ProcessEnv = process.env): Config {
  return parseConfig(readConfigFile(file), file, env);
}

export function parseConfig(text: string, file: string, env: NodeJS.ProcessEnv = process.env): Config {
  const { data, input, problems } = validate(configSchema, parseToml(text, file), env);
  // The rules across sections run also when some section is invalid, on the sections that are
  // valid, so one check-config lists every problem of the file.
  const parts: ConfigParts = data ?? validParts(input);
  problems.push(
    ...crossCheck(parts, input, env),
    ...checkTopicMaps(parts),
    ...resolveFiles(parts, path.dirname(path.resolve(file))),
  );
  if (problems.length > 0 || data === undefined)
    throw new ConfigError(problems.map((line) => `${file}: ${line}`).join('\n'));
  return { ...data, file };
}

/** Each section and component of an invalid config that is valid on its own. */
function validParts(input: unknown): ConfigParts {
  const root = asTable(input);
  const shape = configSchema.shape;
  const each = <T>(section: unknown, schema: { safeParse(v: unknown): { data?: T } }) =>
    Object.fromEntries(Object.entries(asTable(section)).map(([name, v]) => [name, schema.safeParse(v).data]));
  return {
    http: shape.http.safeParse(root.http).data,
    state: shape.state.safeParse(root.state).data,
    sources: each(root.sources, sourceSchema),
    sinks: each(root.sinks, sinkSchema),
    handlers: each(root.handlers, handlerSchema),
  };
}

function asTable(value: unknown): Record<string, unknown> {
  return value !== null && typeof value === 'object' && !Array.isArray(value)
    ? (value as Record<string, unknown>)
    : {};
}
