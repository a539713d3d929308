import { parseArgs, type ParseArgsConfig } from 'node:util';
import { ConfigError } from '../core/errors.js';

export const DEFAULT_CONFIG = process.env.PGRELAY_CONFIG ?? '/etc/pgrelay/pgrelay.toml';

export interface Command {
  name: string;
  summary: string;
  usage: string;
  options: NonNullable<ParseArgsConfig['options']>;
  run(values: Record<string, string | boolean | undefined>, positionals: string[]): Promise<number>;
}

export const configOption = {
  config: { type: 'string', short: 'c', default: DEFAULT_CONFIG },
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
    return { values: values as Record<string, string | boolean | undefined>, positionals };
  } catch (error) {
    throw new ConfigError(`${(error as Error).message}\n\n${command.usage}`);
  }
}
