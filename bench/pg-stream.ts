/**
 * PostgreSQL → pgrelay → Kafka (acks=all), beside pg_recvlogical reading the same WAL to a file.
 *  (i) pgrelay at rest: memory and start-up CPU
 *  (a) one transaction inserting N rows into users(id serial pk, name text, created_on timestamptz)
 *  (t) N single-row transactions into the same table, written while pgrelay is down, drained
 *  (b) small mixed transactions (insert/update/delete): commit-to-Kafka latency at a fixed rate,
 *      and the rate at which a backlog of them drains
 */
import { execFile, spawn } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { promisify } from 'node:util';
import { lsnToBigInt } from '../src/core/lsn.js';
import { postgresBin, type PostgresHandle } from '../test/harness/postgres.js';
import { PgrelayProcess, positionLsn } from '../test/harness/pgrelay.js';
import { tempDir, waitFor } from '../test/harness/processes.js';
import { sharedKafka, sharedPostgres } from '../test/harness/services.js';
import { createTopics, topicSize } from '../test/harness/topics.js';
import { type BenchResult, IDLE_SETTLE_MS, POLL_MS, percentile } from './report.js';

const run = promisify(execFile);

interface Setup {
  pg: PostgresHandle;
  database: string;
  brokers: string[];
  topic: string;
  sql(text: string): Promise<Record<string, unknown>[]>;
}

async function setup(name: string, schema: string): Promise<Setup> {
  const [pg, brokers] = await Promise.all([sharedPostgres(), sharedKafka()]);
  const database = await pg.createDatabase(`bench_${name}`);
  const topic = `bench.${database}`;
  // LogAppendTime: the broker stamps each message when it stores it, the end of commit-to-Kafka latency.
  await createTopics(brokers, [topic], 4, { 'message.timestamp.type': 'LogAppendTime' });
  const sql = (text: string) => pg.query(text, [], database);
  await sql(schema);
  await sql(`CREATE PUBLICATION bench FOR ALL TABLES`);
  return { pg, database, brokers, topic, sql };
}

/** The go-pq-cdc-kafka benchmark's table: the peers' published figures use it. */
const USERS = `CREATE TABLE users (id serial PRIMARY KEY, name text, created_on timestamptz DEFAULT now())`;

async function startRelay(s: Setup, options: { waitRunning?: boolean } = {}): Promise<PgrelayProcess> {
  const relay = await PgrelayProcess.create(`
[sources.db]
type = "postgres"
dsn = "${s.pg.urlFor(s.database)}"
publication = "bench"
create_publication = false
slot = "pgrelay_bench_${s.database}"
[sinks.kafka]
type = "kafka"
sources = ["db"]
brokers = ${JSON.stringify(s.brokers)}
acks = "all"
topic_fallback = "${s.topic}"
`);
  await relay.start(options);
  return relay;
}

async function delivered(relay: PgrelayProcess): Promise<number> {
  const stats = (await (await relay.get('/stats')).json()) as { sinks: { kafka: { events_out: number } } };
  return stats.sinks.kafka.events_out;
}

/** Polls until the sink delivered `count` events; returns when that was first seen (ms). */
async function untilDelivered(relay: PgrelayProcess, count: number, timeoutMs: number): Promise<number> {
  return waitFor(
    `${count} events delivered`,
    async () => ((await delivered(relay)) >= count ? performance.now() : undefined),
    timeoutMs,
    relay.logFile,
    POLL_MS.done,
  );
}

async function currentLsn(s: Setup): Promise<string> {
  return ((await s.sql('SELECT pg_current_wal_lsn()::text AS lsn'))[0] as { lsn: string }).lsn;
}

/** pg_recvlogical reading a slot with pgoutput up to `endLsn` into a file: the decoding ceiling. */
async function recvlogical(s: Setup, slot: string, endLsn: string): Promise<number> {
  const out = path.join(tempDir('pgrelay-bench-'), 'recv.bin');
  const started = performance.now();
  await run(
    path.join(postgresBin(), 'pg_recvlogical'),
    [
      '-d',
      s.pg.urlFor(s.database),
      '--slot',
      slot,
      '--start',
      '--endpos',
      endLsn,
      '--no-loop',
      '-o',
      'proto_version=1',
      '-o',
      'publication_names=bench',
      '-f',
      out,
    ],
    { maxBuffer: 1 << 20 },
  );
  const seconds = (performance.now() - started) / 1000;
  fs.rmSync(path.dirname(out), { recursive: true, force: true });
  return seconds;
}

/** The baseline's own slot (slot names are per cluster, databases per scenario). */
function recvSlot(s: Setup): string {
  return `bench_recv_${s.database}`;
}

async function createRecvSlot(s: Setup, slot: string): Promise<void> {
  await s.sql(`SELECT pg_create_logical_replication_slot('${slot}', 'pgoutput')`);
}

/**
 * pgrelay started on a quiet database and left idle: what it holds at rest and what starting cost.
 * At rest counts after the idle memory release (release_memory_when_idle, 10 s by default: within
 * 20 s of the last event); the figure before it is printed too.
 */
export async function benchAtRest(): Promise<BenchResult> {
  const s = await setup('rest', USERS);
  const relay = await startRelay(s);
  try {
    // Measured at its second start, as a service runs after its first: the first start after a
    // build or an upgrade compiles the bundle and fills the compile cache (~7 MB and 0.2 s more).
    await relay.stop();
    await relay.start();
    const startupCpu = relay.cpuSeconds() ?? 0;
    await new Promise((resolve) => setTimeout(resolve, 8_000));
    const beforeRelease = relay.rssMb();
    await new Promise((resolve) => setTimeout(resolve, IDLE_SETTLE_MS - 8_000));
    const rss = relay.rssMb();
    return {
      name: `(i) at rest: one postgres source, one Kafka sink, idle for ${IDLE_SETTLE_MS / 1000} s`,
      unit: 'rows',
      count: 0,
      seconds: 0,
      perSecond: 0,
      peakRssMb: relay.peakRssMb(),
      targets: [
        `RSS at rest <= 80 MB: ${(rss ?? Infinity) <= 80 ? 'met' : 'NOT met'} (${rss?.toFixed(1)} MB)`,
      ],
      notes: [
        `start-up until /status ok: ${startupCpu.toFixed(2)} s CPU`,
        `RSS after 8 s idle: ${beforeRelease?.toFixed(1)} MB; after ${IDLE_SETTLE_MS / 1000} s (the idle release done): ${rss?.toFixed(1)} MB`,
      ],
    };
  } finally {
    await relay.destroy();
  }
}

/** Targets every PostgreSQL throughput scenario shares (issue "Hot path"). */
function throughputTargets(
  perSecond: number,
  baseline: number,
  cpu: number,
  peak: number | undefined,
  cpuLimit: number,
) {
  const rss = peak ?? Infinity;
  return [
    `>= 0.5 x pg_recvlogical: ${perSecond >= 0.5 * baseline ? 'met' : 'NOT met'}`,
    `<= ${cpuLimit} µs CPU per row: ${cpu <= cpuLimit ? 'met' : 'NOT met'}`,
    `peak RSS <= 150 MB: ${rss <= 150 ? 'met' : 'NOT met'}`,
    `stretch, 0.75 x pg_recvlogical at <= 100 MB: ${perSecond >= 0.75 * baseline && rss <= 100 ? 'met' : 'not met'}`,
  ];
}

export async function benchBigTransaction(rows: number): Promise<BenchResult> {
  const s = await setup('big', USERS);
  await createRecvSlot(s, recvSlot(s));
  const relay = await startRelay(s);
  try {
    const cpuBefore = relay.cpuSeconds() ?? 0;
    await s.sql(`INSERT INTO users (name) SELECT 'user ' || g FROM generate_series(1, ${rows}) g`);
    const committed = performance.now();
    const endLsn = await currentLsn(s);
    const done = await untilDelivered(relay, rows, 600_000);
    const peakRssMb = relay.peakRssMb();
    const cpuMicrosPerUnit = (((relay.cpuSeconds() ?? 0) - cpuBefore) / rows) * 1e6;
    const seconds = (done - committed) / 1000;
    const recvSeconds = await recvlogical(s, recvSlot(s), endLsn);
    const perSecond = rows / seconds;
    return {
      name: `(a) one transaction of ${rows.toLocaleString('en-US')} rows: PostgreSQL → pgrelay → Kafka (acks=all)`,
      unit: 'rows',
      count: rows,
      seconds,
      perSecond,
      peakRssMb,
      cpuMicrosPerUnit,
      baseline: { name: 'pg_recvlogical (pgoutput) to a file', perSecond: rows / recvSeconds },
      targets: throughputTargets(perSecond, rows / recvSeconds, cpuMicrosPerUnit, peakRssMb, 9),
    };
  } finally {
    await relay.destroy();
  }
}

/**
 * (t) `count` single-row transactions written while pgrelay is down (one DO block committing each
 * row), then drained: time and CPU from /status ok until the position passes the last commit.
 */
export async function benchSingleRowTransactions(count: number): Promise<BenchResult> {
  const s = await setup('single', USERS);
  await createRecvSlot(s, recvSlot(s));
  const relay = await startRelay(s);
  try {
    assert0(await relay.stop());
    await s.sql(
      `DO $$ BEGIN FOR i IN 1..${count} LOOP INSERT INTO users (name) VALUES ('user ' || i); COMMIT; END LOOP; END $$`,
    );
    const endLsn = await currentLsn(s);
    await relay.start({ waitRunning: false });
    await relay.waitRunning(60_000, POLL_MS.running);
    const started = performance.now();
    const cpuBefore = relay.cpuSeconds() ?? 0;
    await waitFor(
      'the backlog to drain',
      async () => {
        const position = (await relay.status()).sources.db!.position;
        return position !== null && positionLsn(position) >= lsnToBigInt(endLsn) ? true : undefined;
      },
      600_000,
      relay.logFile,
      POLL_MS.done,
    );
    const seconds = (performance.now() - started) / 1000;
    const delivered = await untilDelivered(relay, count, 60_000).then(() => count);
    const peakRssMb = relay.peakRssMb();
    const cpuMicrosPerUnit = (((relay.cpuSeconds() ?? 0) - cpuBefore) / delivered) * 1e6;
    const recvSeconds = await recvlogical(s, recvSlot(s), endLsn);
    const perSecond = delivered / seconds;
    return {
      name: `(t) ${count.toLocaleString('en-US')} single-row transactions drained: PostgreSQL → pgrelay → Kafka (acks=all)`,
      unit: 'rows',
      count: delivered,
      seconds,
      perSecond,
      peakRssMb,
      cpuMicrosPerUnit,
      baseline: { name: 'pg_recvlogical (pgoutput) to a file', perSecond: count / recvSeconds },
      targets: throughputTargets(perSecond, count / recvSeconds, cpuMicrosPerUnit, peakRssMb, 17),
      notes: ['time and CPU from /status ok (start-up excluded) until the position passed the last commit'],
    };
  } finally {
    await relay.destroy();
  }
}

const DRAIN_TRANSACTIONS = 40_000;
const SMALL_SCHEMA = `CREATE TABLE accounts (id bigint PRIMARY KEY, balance bigint NOT NULL, note text);
  INSERT INTO accounts SELECT g, 0, 'seed' FROM generate_series(1, 100000) g;`;

/** Five changes per transaction: two inserts, two updates of seed rows, one delete. */
const SMALL_SCRIPT = `\\set n random(1000000, 2000000000)
\\set a random(1, 100000)
\\set b random(1, 100000)
BEGIN;
INSERT INTO accounts VALUES (:n, 1, 'new') ON CONFLICT (id) DO NOTHING;
INSERT INTO accounts VALUES (:n::bigint + 2000000000, 1, 'kept') ON CONFLICT (id) DO NOTHING;
UPDATE accounts SET balance = balance + 1 WHERE id = :a;
UPDATE accounts SET balance = balance - 1 WHERE id = :b;
DELETE FROM accounts WHERE id = :n;
COMMIT;
`;

async function pgbench(s: Setup, options: string[]): Promise<void> {
  const script = path.join(tempDir('pgrelay-bench-'), 'tx.sql');
  fs.writeFileSync(script, SMALL_SCRIPT);
  await run(path.join(postgresBin(), 'pgbench'), ['-n', '-f', script, ...options, s.pg.urlFor(s.database)], {
    maxBuffer: 1 << 24,
  });
  fs.rmSync(path.dirname(script), { recursive: true, force: true });
}

/** Reads the topic with kcat: per message, LogAppendTime minus the event's commit_time. */
async function latencies(s: Setup): Promise<number[]> {
  const child = spawn('kcat', [
    '-b',
    s.brokers.join(','),
    '-C',
    '-t',
    s.topic,
    '-o',
    'beginning',
    '-e',
    '-q',
    '-f',
    '%T %s\n',
  ]);
  let buffer = '';
  const values: number[] = [];
  child.stdout.setEncoding('utf8');
  child.stdout.on('data', (chunk: string) => {
    buffer += chunk;
    let newline: number;
    while ((newline = buffer.indexOf('\n')) !== -1) {
      const line = buffer.slice(0, newline);
      buffer = buffer.slice(newline + 1);
      const space = line.indexOf(' ');
      const appended = Number(line.slice(0, space));
      const commit = /"commit_time":"([^"]+)"/.exec(line);
      if (commit) values.push(appended - Date.parse(commit[1]!));
    }
  });
  await new Promise((resolve) => child.on('exit', resolve));
  return values.sort((a, b) => a - b);
}

export async function benchSmallTransactions(ratePerSecond: number, seconds: number): Promise<BenchResult[]> {
  const s = await setup('small', SMALL_SCHEMA);
  const relay = await startRelay(s);
  let steady: BenchResult;
  try {
    const transactions = Math.round((ratePerSecond / 5) * seconds);
    const cpuBefore = relay.cpuSeconds() ?? 0;
    const started = performance.now();
    await pgbench(s, [
      '-c',
      '4',
      '-j',
      '2',
      '-R',
      String(ratePerSecond / 5),
      '-t',
      String(Math.round(transactions / 4)),
    ]);
    const expected = await waitFor(
      'the topic to stop growing',
      async () => {
        const now = await topicSize(s.brokers, s.topic);
        await new Promise((r) => setTimeout(r, 1000));
        return now === (await topicSize(s.brokers, s.topic)) && now > 0 ? now : undefined;
      },
      120_000,
    );
    const elapsed = (performance.now() - started) / 1000;
    const cpuMicrosPerUnit = (((relay.cpuSeconds() ?? 0) - cpuBefore) / expected) * 1e6;
    const sorted = await latencies(s);
    steady = {
      name: `(b) small mixed transactions at ${ratePerSecond.toLocaleString('en-US')} changes/s: commit → Kafka (LogAppendTime)`,
      unit: 'changes',
      count: expected,
      seconds: elapsed,
      perSecond: expected / elapsed,
      latencyMs: { p50: percentile(sorted, 50), p99: percentile(sorted, 99) },
      peakRssMb: relay.peakRssMb(),
      cpuMicrosPerUnit,
      targets: [`p99 <= 50 ms at 5,000 changes/s: ${percentile(sorted, 99) <= 50 ? 'met' : 'NOT met'}`],
      notes: [
        'CPU from the first transaction to a second after the last: each transaction travels alone while nothing else waits (what keeps latency low), so this costs more per change than a drain',
      ],
    };
  } finally {
    await relay.destroy();
  }

  // Drain: a backlog of small transactions written while pgrelay is down, then read as fast as it can.
  const d = await setup('drain', SMALL_SCHEMA);
  await createRecvSlot(d, recvSlot(d));
  const drainRelay = await startRelay(d);
  try {
    assert0(await drainRelay.stop());
    await pgbench(d, ['-c', '4', '-j', '2', '-t', String(DRAIN_TRANSACTIONS / 4)]);
    const endLsn = await currentLsn(d);
    await drainRelay.start({ waitRunning: false });
    await drainRelay.waitRunning(60_000, POLL_MS.running);
    const started = performance.now();
    const cpuBefore = drainRelay.cpuSeconds() ?? 0;
    const total = await waitFor(
      'the backlog to drain',
      async () => {
        const status = await drainRelay.status();
        const position = status.sources.db!.position;
        return position !== null && positionLsn(position) >= lsnToBigInt(endLsn)
          ? delivered(drainRelay)
          : undefined;
      },
      600_000,
      drainRelay.logFile,
      POLL_MS.done,
    );
    const seconds = (performance.now() - started) / 1000;
    const peakRssMb = drainRelay.peakRssMb();
    const cpuMicrosPerUnit = (((drainRelay.cpuSeconds() ?? 0) - cpuBefore) / total) * 1e6;
    const recvSeconds = await recvlogical(d, recvSlot(d), endLsn);
    return [
      steady,
      {
        name: `(b) drain of ${DRAIN_TRANSACTIONS.toLocaleString('en-US')} mixed transactions: ${(DRAIN_TRANSACTIONS * 5).toLocaleString('en-US')} changes written while pgrelay was down`,
        unit: 'changes',
        count: total,
        seconds,
        perSecond: total / seconds,
        peakRssMb,
        cpuMicrosPerUnit,
        baseline: { name: 'pg_recvlogical (pgoutput) to a file', perSecond: total / recvSeconds },
        notes: ['time and CPU from /status ok (start-up excluded) until the position passed the last commit'],
      },
    ];
  } finally {
    await drainRelay.destroy();
  }
}

function assert0(code: number | null): void {
  if (code !== 0) throw new Error(`pgrelay exited with ${code}`);
}
