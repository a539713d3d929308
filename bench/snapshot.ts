/**
 * (s) snapshot = "initial" of a table of N rows (users(id bigserial, name, email, created_at)):
 * rows/s from pgrelay's start until Kafka (acks=all) acknowledged every row, beside COPY of the
 * same table to /dev/null by psql (the reading ceiling).
 */
import { execFile } from 'node:child_process';
import path from 'node:path';
import { promisify } from 'node:util';
import { postgresBin } from '../test/harness/postgres.js';
import { PgrelayProcess } from '../test/harness/pgrelay.js';
import { waitFor } from '../test/harness/processes.js';
import { sharedKafka, sharedPostgres } from '../test/harness/services.js';
import { createTopics } from '../test/harness/topics.js';
import { type BenchResult, IDLE_SETTLE_MS, POLL_MS } from './report.js';

const run = promisify(execFile);

export async function benchSnapshot(rows: number): Promise<BenchResult> {
  const [pg, brokers] = await Promise.all([sharedPostgres(), sharedKafka()]);
  const database = await pg.createDatabase('bench_snapshot');
  const topic = `bench.${database}`;
  await createTopics(brokers, [topic], 4);
  const sql = (text: string) => pg.query(text, [], database);
  await sql(
    `CREATE TABLE users (id bigserial PRIMARY KEY, name text, email text, created_at timestamptz DEFAULT now())`,
  );
  await sql(
    `INSERT INTO users (name, email) SELECT 'user ' || g, 'user' || g || '@example.com' FROM generate_series(1, ${rows}) g`,
  );
  await sql('VACUUM ANALYZE users');

  const copyStarted = performance.now();
  await run(path.join(postgresBin(), 'psql'), [
    '-q',
    '-d',
    pg.urlFor(database),
    '-o',
    '/dev/null',
    '-c',
    'COPY users TO STDOUT',
  ]);
  const copySeconds = (performance.now() - copyStarted) / 1000;

  const relay = await PgrelayProcess.create(`
[sources.db]
type = "postgres"
dsn = "${pg.urlFor(database)}"
tables = ["users"]
slot = "pgrelay_bench_${database}"
snapshot = "initial"
[sinks.kafka]
type = "kafka"
sources = ["db"]
brokers = ${JSON.stringify(brokers)}
acks = "all"
topic_fallback = "${topic}"
`);
  try {
    const started = performance.now();
    await relay.start({ waitRunning: false });
    await waitFor(
      `${rows} snapshot rows delivered`,
      async () => {
        const stats = (await (await relay.get('/stats')).json()) as {
          sinks: { kafka: { events_out: number } };
        };
        return stats.sinks.kafka.events_out >= rows ? true : undefined;
      },
      600_000,
      relay.logFile,
      POLL_MS.done,
    );
    const seconds = (performance.now() - started) / 1000;
    const peakRssMb = relay.peakRssMb();
    const cpuSeconds = relay.cpuSeconds();
    const perSecond = rows / seconds;
    await new Promise((resolve) => setTimeout(resolve, IDLE_SETTLE_MS));
    const rssIdle = relay.rssMb();
    return {
      name: '(s) snapshot = "initial" of N rows: PostgreSQL → pgrelay → Kafka (acks=all)',
      unit: 'rows',
      count: rows,
      seconds,
      perSecond,
      peakRssMb,
      ...(cpuSeconds === undefined ? {} : { cpuMicrosPerUnit: (cpuSeconds / rows) * 1e6 }),
      baseline: { name: 'psql COPY of the table to /dev/null', perSecond: rows / copySeconds },
      targets: [
        `>= 100,000 rows/s (go-pq-cdc 167k/s on a laptop, Debezium 83k/s): ${perSecond >= 100_000 ? 'met' : 'NOT met'}`,
        `peak RSS < 150 MB: ${(peakRssMb ?? Infinity) < 150 ? 'met' : 'NOT met'}`,
      ],
      notes: [
        'includes pgrelay start-up (process, connections, slot creation) in the time and CPU',
        `RSS ${IDLE_SETTLE_MS / 1000} s after the snapshot (the idle memory release done): ${rssIdle?.toFixed(0)} MB`,
      ],
    };
  } finally {
    await relay.destroy();
  }
}
