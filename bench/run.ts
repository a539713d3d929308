/**
 * `make bench`: throughput, latency and peak memory of pgrelay next to the baseline each runs beside.
 * Prints figures; asserts nothing. BENCH_ROWS (default 1,000,000) sizes scenario (a),
 * BENCH_SNAPSHOT_ROWS (default 1,000,000) scenario (s); BENCH_ONLY selects scenarios by name
 * (a, b, r, s).
 */
import os from 'node:os';
import { benchBigTransaction, benchSmallTransactions } from './pg-stream.js';
import { benchRelay } from './relay.js';
import { benchSnapshot } from './snapshot.js';
import { type BenchResult, formatResult } from './report.js';

const only = (process.env.BENCH_ONLY ?? 'a,b,r,s').split(',');
const rows = Number(process.env.BENCH_ROWS ?? 1_000_000);
const snapshotRows = Number(process.env.BENCH_SNAPSHOT_ROWS ?? 1_000_000);

async function main(): Promise<void> {
  process.stdout.write(
    `pgrelay bench on ${os.cpus().length} cores (${os.cpus()[0]?.model ?? 'cpu'}), node ${process.versions.node}\n\n`,
  );
  const scenarios: [string, () => Promise<BenchResult | BenchResult[]>][] = [
    ['a', () => benchBigTransaction(rows)],
    ['b', () => benchSmallTransactions(5000, 30)],
    ['r', () => benchRelay()],
    ['s', () => benchSnapshot(snapshotRows)],
  ];
  for (const [name, scenario] of scenarios) {
    if (!only.includes(name)) continue;
    const results = [await scenario()].flat();
    for (const result of results) process.stdout.write(formatResult(result) + '\n\n');
  }
}

main().then(
  () => process.exit(0),
  (error: unknown) => {
    process.stderr.write(`bench: ${(error as Error).stack ?? String(error)}\n`);
    process.exit(1);
  },
);
