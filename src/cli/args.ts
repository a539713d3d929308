import { parseArgs, type ParseArgsConfig } from 'node:util';
import { ConfigError } from '../core/errors.js';

export const DEFAULT_CONFIG = process.env.PGRELAY_CONFIG ?? '/etc/pgrelay/pgrelay.toml';

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
