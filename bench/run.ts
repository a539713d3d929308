/**
 * `make bench`: throughput, latency and peak memory of pgrelay next to the baseline each runs beside,
 * scenario by scenario, then one table of them all. Prints figures; asserts nothing.
 * BENCH_ROWS (default 1,000,000) sizes scenario (a), BENCH_SNAPSHOT_ROWS (default 1,000,000)
 * scenario (s), BENCH_TRANSACTIONS (default 200,000) scenario (t); BENCH_ONLY selects scenarios by
 * name (i, a, t, b, r, x, s).
 */
import os from 'node:os';
import {
  benchAtRest,
  benchBigTransaction,
  benchSingleRowTransactions,
  benchSmallTransactions,
} from './pg-stream.js';
import { formatMachineSpeed, machineSpeed } from './machine.js';
import { benchExactlyOnceRelay, benchRelay } from './relay.js';
import { benchSnapshot } from './snapshot.js';
import { type BenchResult, formatResult, formatTable } from './report.js';

const only = (process.env.BENCH_ONLY ?? 'i,a,t,b,r,x,s').split(',');
const rows = Number(process.env.BENCH_ROWS ?? 1_000_000);
const transactions = Number(process.env.BENCH_TRANSACTIONS ?? 200_000);
const snapshotRows = Number(process.env.BENCH_SNAPSHOT_ROWS ?? 1_000_000);

async function main(): Promise<void> {
  process.stdout.write(
    `pgrelay bench on ${os.cpus().length} cores (${os.cpus()[0]?.model ?? 'cpu'}), node ${process.versions.node}, ` +
      `load average ${os.loadavg()[0]!.toFixed(1)}\n` +
      `machine speed at the start: ${formatMachineSpeed(machineSpeed())}\n\n`,
  );
  const scenarios: [string, () => Promise<BenchResult | BenchResult[]>][] = [
    ['i', () => benchAtRest()],
    ['a', () => benchBigTransaction(rows)],
    ['t', () => benchSingleRowTransactions(transactions)],
    ['b', () => benchSmallTransactions(5000, 30)],
    ['r', () => benchRelay()],
    ['x', () => benchExactlyOnceRelay()],
    ['s', () => benchSnapshot(snapshotRows)],
  ];
  const all: BenchResult[] = [];
  for (const [name, scenario] of scenarios) {
    if (!only.includes(name)) continue;
    const results = [await scenario()].flat();
    for (const result of results) process.stdout.write(formatResult(result) + '\n\n');
    all.push(...results);
  }
  process.stdout.write(
    `${formatTable(all)}\n(load average at the end ${os.loadavg()[0]!.toFixed(1)}; ` +
      `machine speed at the end: ${formatMachineSpeed(machineSpeed())})\n`,
  );
}

main().then(
  () => process.exit(0),
  (error: unknown) => {
    process.stderr.write(`bench: ${(error as Error).stack ?? String(error)}\n`);
    process.exit(1);
  },
);
