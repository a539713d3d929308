import { parseArgs, type ParseArgsConfig } from 'node:util';
import { environmentFileOf } from '../config/env-file.js';
import { ConfigError } from '../core/errors.js';
import { loadConfig } from '../runtime/config.js';
import type { Config } from '../runtime/config-schema.js';
import { EnvironmentFile } from './environment.js';

export const DEFAULT_CONFIG = process.env.PGRELAY_CONFIG ?? '/etc/pgrelay/pgrelay.toml';

/** The -c line of every command's help. */
export const CONFIG_HELP = `  -c, --config FILE   config file (default ${DEFAULT_CONFIG}, or $PGRELAY_CONFIG); the
                      environment file beside it (NAME.env for NAME.toml) is read too`;

export interface Command {
  name: string;
  summary: string;
  usage: string;
  options: NonNullable<ParseArgsConfig['options']>;
  /** Arguments besides options it takes: run and check-config take the config file. */
  maxArguments: number;
  run(values: Record<string, string | boolean | undefined>, positionals: string[]): Promise<number>;
}

export const configOption = {
  config: { type: 'string', short: 'c' },
  help: { type: 'boolean', short: 'h' },
} as const;

/** Parses a command's arguments; unknown options are usage errors (exit 2). */
export function parse(
  command: Command,
  argv: string[],
): { values: Record<string, string | boolean | undefined>; positionals: string[] } {
  try {
    const { values, positionals } = parseArgs({
      args: argv,
      options: command.options,
      allowPositionals: true,
      strict: true,
    });
    if (positionals.length > command.maxArguments) {
      throw new Error(`unexpected argument "${positionals[command.maxArguments]}"`);
    }
    return { values: values as Record<string, string | boolean | undefined>, positionals };
  } catch (error) {
    throw new ConfigError(`${(error as Error).message}\n\n${command.usage}`);
  }
}

/** The config file, from `-c FILE` or a lone FILE (`pgrelay check-config pgrelay.toml`), not both. */
export function configFile(
  values: Record<string, string | boolean | undefined>,
  positionals: string[],
): string {
  const [file] = positionals;
  const option = values.config as string | undefined;
  if (file !== undefined && option !== undefined) {
    throw new ConfigError(`two config files given (-c ${option} and ${file}): name one`);
  }
  return file ?? option ?? DEFAULT_CONFIG;
}

/**
 * The config a command names (`-c`, a lone FILE, or the default), after reading the environment
 * file the systemd unit reads for it (NAME.env beside NAME.toml) into the environment, so ${VAR}
 * references and libpq's PG* variables resolve from a shell as they do in the service. Variables
 * already in the environment win, as they would over the unit's file. A file this user may not read
 * is a warning, not an error: under systemd, which reads it as root, its variables are set already.
 */
export function loadCommandConfig(
  values: Record<string, string | boolean | undefined>,
  positionals: string[],
): Config {
  return commandConfigLoader(values, positionals)();
}

/**
 * As loadCommandConfig, for reading the config again (a reload): each call reads the environment
 * file and the config anew.
 */
export function commandConfigLoader(
  values: Record<string, string | boolean | undefined>,
  positionals: string[],
): () => Config {
  const file = configFile(values, positionals);
  const environment = new EnvironmentFile(environmentFileOf(file));
  return () => {
    const unreadable = environment.apply();
    if (unreadable !== undefined) {
      process.stderr.write(
        `pgrelay: warning: ${environment.file}: ${unreadable}; its variables are not read\n`,
      );
    }
    return loadConfig(file);
  };
}
