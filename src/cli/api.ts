import { ConfigError } from '../core/errors.js';
import type { Config } from '../runtime/config-schema.js';

/**
 * The running pgrelay's API, from [http] listen: a wildcard address is reached on loopback.
 * `command` names what needs it, for the error when the API is off.
 */
export function apiUrl(config: Config, command: string): string {
  const listen = config.http.listen;
  if (listen === 'off') {
    throw new ConfigError(`${config.file}: http.listen is "off": ${command} talks to pgrelay's HTTP API`);
  }
  const separator = listen.lastIndexOf(':');
  const host = listen.slice(0, separator);
  const port = listen.slice(separator + 1);
  const reachable = host === '0.0.0.0' ? '127.0.0.1' : host === '[::]' ? '[::1]' : host;
  return `http://${reachable}:${port}`;
}
