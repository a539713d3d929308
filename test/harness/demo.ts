/**
 * `make demo`: a throwaway PostgreSQL and Kafka, pgrelay running conf/demo.toml, a small shop writing
 * rows, and kcat printing the Kafka messages they become. Ctrl-C stops everything.
 * PGRELAY_DEMO_ROUNDS=N stops by itself after N rounds of writes (the demo's own test uses it).
 */
import { type ChildProcess, spawn } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { KafkaServer } from './kafka.js';
import { PGRELAY_BIN, ROOT } from './pgrelay.js';
import { PostgresServer } from './postgres.js';
import { freePort, reapOrphans, stopProcess, tempDir, waitFor } from './processes.js';
import { createTopics } from './topics.js';

const rounds = Number(process.env.PGRELAY_DEMO_ROUNDS ?? Infinity);
const say = (line: string) => process.stdout.write(`\x1b[1mdemo:\x1b[0m ${line}\n`);

async function main(): Promise<number> {
  reapOrphans();
  const stop = new AbortController();
  for (const signal of ['SIGINT', 'SIGTERM'] as const) process.on(signal, () => stop.abort());

  say('starting a throwaway PostgreSQL and Kafka (KRaft)...');
  const [postgres, kafka] = await Promise.all([PostgresServer.start(), KafkaServer.start()]);
  const children: ChildProcess[] = [];
  const dir = tempDir('pgrelay-demo-');
  try {
    await postgres.query(`CREATE TABLE customers (id bigserial PRIMARY KEY, name text NOT NULL, email text);
      CREATE TABLE orders (id bigserial PRIMARY KEY, customer_id bigint REFERENCES customers, total numeric(10,2),
        status text NOT NULL DEFAULT 'new', created_at timestamptz NOT NULL DEFAULT now());`);
    const httpPort = await freePort();
    const env = {
      ...process.env,
      PGRELAY_DEMO_DSN: postgres.url,
      PGRELAY_DEMO_BROKERS: kafka.brokers[0],
      PGRELAY_DEMO_STATE: path.join(dir, 'state.db'),
      PGRELAY_DEMO_HTTP_PORT: String(httpPort),
    };
    const logFile = path.join(dir, 'pgrelay.log');
    const log = fs.openSync(logFile, 'a');
    const relay = spawn(PGRELAY_BIN, ['run', '-c', path.join(ROOT, 'conf/demo.toml')], {
      env,
      stdio: ['ignore', log, log],
    });
    children.push(relay);
    await waitFor(
      'pgrelay to run',
      async () =>
        ((await (await fetch(`http://127.0.0.1:${httpPort}/status`)).json()) as { status: string }).status ===
          'ok' || undefined,
      60_000,
      logFile,
    );
    say(`pgrelay is running conf/demo.toml (log: ${logFile})`);
    say(`  status:  curl -s http://127.0.0.1:${httpPort}/status`);
    say(`  psql:    psql ${postgres.url}`);
    say(`  kafka:   kcat -b ${kafka.brokers[0]} -L`);
    say('Kafka messages appear below as rows are written; Ctrl-C stops everything.\n');

    // kcat subscribing to topics pgrelay has yet to create would look for them again only after five
    // minutes (librdkafka's metadata refresh), printing nothing meanwhile.
    const topics = ['demo.customers', 'demo.orders'];
    await createTopics(kafka.brokers, topics);
    const consumer = spawn(
      'kcat',
      [
        '-b',
        kafka.brokers[0]!,
        '-G',
        'pgrelay-demo',
        '-X',
        'auto.offset.reset=earliest',
        '-q',
        '-u',
        '-f',
        '\x1b[32m%t\x1b[0m key=%k\n  %s\n',
        ...topics,
      ],
      { stdio: ['ignore', 'inherit', 'inherit'] },
    );
    children.push(consumer);

    const names = ['Ada', 'Grace', 'Linus', 'Barbara', 'Ken', 'Margaret', 'Edsger', 'Frances'];
    for (let round = 1; round <= rounds && !stop.signal.aborted; round++) {
      const name = names[(round - 1) % names.length]!;
      const statements = [
        `INSERT INTO customers (name, email) VALUES ('${name}', '${name.toLowerCase()}@example.com')`,
        `INSERT INTO orders (customer_id, total) VALUES (${round}, ${(round * 12.5).toFixed(2)})`,
        `UPDATE orders SET status = 'paid' WHERE id = ${round}`,
      ];
      if (round % 3 === 0) statements.push(`DELETE FROM orders WHERE id = ${round - 1}`);
      for (const sql of statements) {
        say(`\x1b[36mSQL\x1b[0m ${sql}`);
        await postgres.query(sql);
      }
      await sleep(2000, undefined, { signal: stop.signal }).catch(() => undefined);
    }
    if (!stop.signal.aborted) await sleep(3000);
    say('stopping pgrelay, kcat, Kafka and PostgreSQL...');
    return 0;
  } finally {
    for (const child of children.reverse()) await stopProcess(child, 'SIGTERM', 30_000);
    await Promise.all([postgres.destroy(), kafka.destroy()]);
    fs.rmSync(dir, { recursive: true, force: true });
    say('stopped; nothing left running.');
  }
}

main().then(
  (code) => process.exit(code),
  (error: unknown) => {
    process.stderr.write(`demo: ${(error as Error).stack ?? String(error)}\n`);
    process.exit(1);
  },
);
