import fs from 'node:fs';
import path from 'node:path';
import { ConfigError, errorMessage } from '../core/errors.js';
import { formatPath } from '../config/issues.js';
import { parseToml, readConfigFile, validate } from '../config/parse.js';
import { defaultSlot } from '../sources/postgres/config.js';
import { BUILTIN_HANDLERS, type Config, configSchema } from './config-schema.js';

const COMPONENT_NAME = /^[A-Za-z0-9][A-Za-z0-9_.-]*$/;

/**
 * Reads, interpolates and validates a config file. Every problem found is reported at once, each
 * naming the file and the key path (or line and column for TOML syntax errors); nothing starts
 * unless the whole file is valid.
 */
export function loadConfig(file: string, env: NodeJS.ProcessEnv = process.env): Config {
  return parseConfig(readConfigFile(file), file, env);
}

export function parseConfig(text: string, file: string, env: NodeJS.ProcessEnv = process.env): Config {
  const config: Config = { ...validate(configSchema, parseToml(text, file), file, env), file };
  const problems = [...crossCheck(config), ...resolveFiles(config, path.dirname(path.resolve(file)))];
  if (problems.length > 0) throw new ConfigError(problems.map((line) => `${file}: ${line}`).join('\n'));
  return config;
}

/** Wiring and naming rules a schema cannot express. */
function crossCheck(config: Config): string[] {
  const problems: string[] = [];
  const sources = Object.keys(config.sources);
  const sinks = Object.keys(config.sinks);
  for (const [section, names] of [
    ['sources', sources],
    ['sinks', sinks],
    ['handlers', Object.keys(config.handlers)],
  ] as const) {
    for (const name of names) {
      if (!COMPONENT_NAME.test(name)) {
        problems.push(
          `${formatPath([section, name])}: names use letters, digits, "_", "." and "-", starting with a letter or digit`,
        );
      }
    }
  }
  for (const name of sources.filter((n) => sinks.includes(n))) {
    problems.push(
      `${formatPath(['sinks', name])}: duplicate name "${name}": a source has it already (names address components in /status and /debug)`,
    );
  }
  if (sources.length === 0) problems.push('sources: no source is configured');
  if (sinks.length === 0) problems.push('sinks: no sink is configured');

  const fed = new Set<string>();
  for (const [sinkName, sink] of Object.entries(config.sinks)) {
    const seen = new Set<string>();
    sink.sources.forEach((source, i) => {
      const at = formatPath(['sinks', sinkName, 'sources', i]);
      if (!(source in config.sources)) {
        problems.push(`${at}: unknown source "${source}"${known(sources)}`);
      } else if (seen.has(source)) {
        problems.push(`${at}: source "${source}" is listed twice`);
      }
      seen.add(source);
      fed.add(source);
    });
    sink.handlers.forEach((handler, i) => {
      if (!(handler in config.handlers) && !(BUILTIN_HANDLERS as readonly string[]).includes(handler)) {
        problems.push(
          `${formatPath(['sinks', sinkName, 'handlers', i])}: unknown handler "${handler}"${known([...BUILTIN_HANDLERS, ...Object.keys(config.handlers)])}`,
        );
      }
    });
  }
  for (const source of sources.filter((n) => !fed.has(n))) {
    problems.push(
      `${formatPath(['sources', source])}: no sink reads from this source (list it in a sink's sources)`,
    );
  }

  const slots = new Map<string, string>();
  for (const [name, source] of Object.entries(config.sources)) {
    if (source.type !== 'postgres') continue;
    const slot = `${source.dsn}\u0000${source.slot ?? defaultSlot(name)}`;
    const other = slots.get(slot);
    if (other !== undefined) {
      problems.push(
        `${formatPath(['sources', name, 'slot'])}: sources "${other}" and "${name}" would share one replication slot`,
      );
    }
    slots.set(slot, name);
  }
  return problems;
}

function known(names: readonly string[]): string {
  return names.length === 0 ? '' : ` (known: ${names.map((n) => `"${n}"`).join(', ')})`;
}

/**
 * Relative file paths in the config start at the config file's directory, not the working directory.
 * Plugin modules and TLS files must exist, so check-config catches them; the state file is created
 * when pgrelay starts. Returns the problems found.
 */
function resolveFiles(config: Config, base: string): string[] {
  const problems: string[] = [];
  const resolve = (keyPath: PropertyKey[], file: string) => {
    const resolved = path.resolve(base, file);
    if (!fs.existsSync(resolved)) problems.push(`${formatPath(keyPath)}: no such file ${resolved}`);
    return resolved;
  };
  config.state.path = path.resolve(base, config.state.path);
  const tokenFile = config.http.token_file;
  if (tokenFile !== undefined) {
    const resolved = resolve(['http', 'token_file'], tokenFile);
    config.http.token_file = resolved;
    if (fs.existsSync(resolved)) {
      try {
        config.http.token = fs.readFileSync(resolved, 'utf8').trim();
        if (config.http.token.length < 16)
          problems.push(`http.token_file: ${resolved} holds a token shorter than 16 characters`);
      } catch (error) {
        problems.push(`http.token_file: cannot read ${resolved}: ${errorMessage(error)}`);
      }
    }
  }
  for (const [name, handler] of Object.entries(config.handlers)) {
    if (handler.type === 'module') handler.path = resolve(['handlers', name, 'path'], handler.path);
  }
  const components = [
    ...Object.entries(config.sources).map(([name, c]) => ['sources', name, c] as const),
    ...Object.entries(config.sinks).map(([name, c]) => ['sinks', name, c] as const),
  ];
  for (const [section, name, component] of components) {
    if (!('tls' in component) || component.tls === undefined) continue;
    const tls = component.tls;
    for (const key of ['ca_file', 'cert_file', 'key_file'] as const) {
      const file = tls[key];
      if (file !== undefined) tls[key] = resolve([section, name, 'tls', key], file);
    }
  }
  return problems;
}
