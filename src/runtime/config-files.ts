import fs from 'node:fs';
import path from 'node:path';
import { errorMessage } from '../core/errors.js';
import { formatPath } from '../config/issues.js';
import type { ConfigParts } from './config-checks.js';

/**
 * Relative file paths in the config start at the config file's directory, not the working directory.
 * Plugin modules and TLS files must exist, and the state file's directory must exist and be writable
 * (the file itself is created when pgrelay starts), so check-config catches them rather than a start
 * that fails and is restarted again and again. Returns the problems found.
 */
export function resolveFiles(config: ConfigParts, base: string): string[] {
  const problems: string[] = [];
  const resolve = (keyPath: PropertyKey[], file: string) => {
    const resolved = path.resolve(base, file);
    if (!fs.existsSync(resolved)) problems.push(`${formatPath(keyPath)}: no such file ${resolved}`);
    return resolved;
  };
  if (config.state !== undefined) {
    config.state.path = path.resolve(base, config.state.path);
    const problem = stateDirectoryProblem(config.state.path);
    if (problem !== undefined) problems.push(`state.path: ${problem}`);
  }
  const tokenFile = config.http?.token_file;
  if (config.http !== undefined && tokenFile !== undefined) {
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
    if (handler?.type === 'module') handler.path = resolve(['handlers', name, 'path'], handler.path);
  }
  const components = [
    ...Object.entries(config.sources).map(([name, c]) => ['sources', name, c] as const),
    ...Object.entries(config.sinks).map(([name, c]) => ['sinks', name, c] as const),
  ];
  for (const [section, name, component] of components) {
    if (component === undefined || !('tls' in component) || component.tls === undefined) continue;
    const tls = component.tls;
    for (const key of ['ca_file', 'cert_file', 'key_file'] as const) {
      const file = tls[key];
      if (file !== undefined) tls[key] = resolve([section, name, 'tls', key], file);
    }
  }
  return problems;
}

/** Why pgrelay could not create or open its state file at `file`, as far as its directory tells. */
function stateDirectoryProblem(file: string): string | undefined {
  const directory = path.dirname(file);
  let stat: fs.Stats;
  try {
    stat = fs.statSync(directory);
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT')
      return `directory ${directory} does not exist (create it, owned by the user pgrelay runs as, or choose another path)`;
    return `cannot reach directory ${directory}: ${errorMessage(error)}`;
  }
  if (!stat.isDirectory()) return `${directory} is not a directory`;
  try {
    // SQLite writes its journal beside the file: the directory itself must be writable.
    fs.accessSync(directory, fs.constants.W_OK);
  } catch {
    return `directory ${directory} is not writable by this user (uid ${process.getuid?.() ?? '?'})`;
  }
  return undefined;
}
