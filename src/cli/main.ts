import { ConfigError, errorMessage } from '../core/errors.js';
import { VERSION } from '../core/version.js';
import { growHeapByItsLiveSize } from '../runtime/heap-settings.js';
import { DEFAULT_CONFIG, parse } from './args.js';
import { BACKFILL_COMMANDS } from './backfill.js';
import { COMMANDS as CORE_COMMANDS } from './commands.js';
import { POSITION_COMMANDS } from './positions.js';
import { RELOAD_COMMANDS } from './reload.js';

const COMMANDS = [...CORE_COMMANDS, ...RELOAD_COMMANDS, ...POSITION_COMMANDS, ...BACKFILL_COMMANDS];

const USAGE = `pgrelay ${VERSION}: streams PostgreSQL and Kafka changes into Kafka

Usage: pgrelay COMMAND [options]

Commands:
${COMMANDS.map((c) => `  ${c.name.padEnd(16)}${c.summary}`).join('\n')}

The commands that read a config take -c FILE (default ${DEFAULT_CONFIG}, or $PGRELAY_CONFIG)
and, as the systemd unit does, read the environment file beside it: NAME.env for NAME.toml
(/etc/pgrelay/pgrelay.env), systemd's EnvironmentFile syntax (KEY=value, quotes, # comments).
Its variables fill \${VAR} references in the config; variables already set in the environment win.

Run "pgrelay COMMAND --help" for a command's options.
Exit status: 0 ok, 1 runtime failure, 2 bad config or usage, 3 (run) stopped while a source or
sink had failed for good.`;

async function main(argv: string[]): Promise<number> {
  const [name, ...rest] = argv;
  if (name === undefined || name === '--help' || name === '-h' || name === 'help') {
    process.stdout.write(USAGE + '\n');
    return name === undefined ? 2 : 0;
  }
  if (name === '--version' || name === '-V') return main(['version']);
  const command = COMMANDS.find((c) => c.name === name);
  if (command === undefined) throw new ConfigError(`unknown command "${name}"\n\n${USAGE}`);
  const { values, positionals } = parse(command, rest);
  if (values.help) {
    process.stdout.write(command.usage + '\n');
    return 0;
  }
  // Here, once the bundle and node's modules have loaded (heap-settings says why not earlier).
  growHeapByItsLiveSize();
  return command.run(values, positionals);
}

process.on('unhandledRejection', (reason) => {
  process.stderr.write(
    `pgrelay: unexpected error: ${errorMessage(reason)}\n${(reason as Error)?.stack ?? ''}\n`,
  );
  process.exit(1);
});

// A command's outcome is final: the process ends with it rather than when nothing is left to run,
// so a timer that a library or a user's handler left armed cannot keep a stopped pgrelay alive
// (@platformatic/kafka 2.12.1 arms a 60 s heartbeat-stall timer when a JoinGroup fails while the
// consumer closes, as when a member stops while its group rebalances). stdout and stderr are
// synchronous on Linux (files, pipes, the journal's socket): nothing written is lost.
main(process.argv.slice(2)).then(
  (code) => process.exit(code),
  (error: unknown) => {
    process.stderr.write(`pgrelay: ${errorMessage(error)}\n`);
    process.exit(error instanceof ConfigError ? 2 : 1);
  },
);
