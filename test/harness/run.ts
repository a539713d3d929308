/**
 * Runs a command beside a throwaway PostgreSQL and Kafka, and tears both down however the command
 * ends (failure, Ctrl-C, SIGTERM). Usage: node dist/test/harness/run.js -- COMMAND [ARGS...]
 */
import { spawn } from 'node:child_process';
import { KafkaServer } from './kafka.js';
import { PostgresServer } from './postgres.js';
import { reapOrphans } from './processes.js';

async function main(): Promise<number> {
  const separator = process.argv.indexOf('--');
  const [command, ...args] = separator === -1 ? [] : process.argv.slice(separator + 1);
  if (command === undefined) {
    process.stderr.write('usage: run.js -- COMMAND [ARGS...]\n');
    return 2;
  }
  reapOrphans();
  process.stderr.write('harness: starting PostgreSQL and Kafka...\n');
  const [postgres, kafka] = await Promise.all([PostgresServer.start(), KafkaServer.start()]);
  process.stderr.write(
    `harness: PostgreSQL on 127.0.0.1:${postgres.port}, Kafka on ${kafka.brokers.join(',')}\n`,
  );
  let interrupted: NodeJS.Signals | undefined;
  try {
    return await new Promise<number>((resolve, reject) => {
      const child = spawn(command, args, {
        stdio: 'inherit',
        env: {
          ...process.env,
          PGRELAY_TEST_PG_PORT: String(postgres.port),
          PGRELAY_TEST_PG_URL: postgres.url,
          PGRELAY_TEST_BROKERS: kafka.brokers.join(','),
          PGRELAY_TEST_KAFKA_PID: String(kafka.pid ?? ''),
        },
      });
      for (const signal of ['SIGINT', 'SIGTERM'] as const) {
        process.on(signal, () => {
          interrupted = signal;
          child.kill(signal);
        });
      }
      child.on('error', reject);
      child.on('exit', (code, signal) => resolve(code ?? (signal ? 128 + 15 : 1)));
    });
  } finally {
    process.stderr.write(`harness: ${interrupted ? `${interrupted}: ` : ''}stopping PostgreSQL and Kafka\n`);
    await Promise.all([postgres.destroy(), kafka.destroy()]);
  }
}

main().then(
  (code) => process.exit(code),
  (error: unknown) => {
    process.stderr.write(`harness: ${(error as Error).stack ?? String(error)}\n`);
    process.exit(1);
  },
);
