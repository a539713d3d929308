/**
 * `make faults`: the fault suite. Runs each case against the PostgreSQL and Kafka of the test
 * harness (cases that stop a server start their own), then prints one table. Exits 1 when a case
 * lost data or could not measure.
 *
 * Usage: node dist/faults/run.js [WORD...]   only the cases whose name contains a WORD
 * FAULTS_SEED (default "pgrelay") seeds the random moments of the faults.
 */
import { brokerKill } from './cases/broker-kill.js';
import { pgrelayKill } from './cases/pgrelay-kill.js';
import { poison } from './cases/poison.js';
import { postgresRestart } from './cases/postgres-restart.js';
import { relayKill } from './cases/relay-kill.js';
import { sigterm } from './cases/sigterm.js';
import { slotDropped } from './cases/slot-dropped.js';
import { type FaultCase, caseContext } from './fault-case.js';
import { type CaseResult, crashed, passed, table } from './report.js';

const SUITE: FaultCase[] = [
  pgrelayKill({ kills: 20, largeRows: 25_000, largeEvery: 3 }),
  brokerKill({ kills: 3, largeRows: 25_000 }),
  postgresRestart({ mode: 'fast', restarts: 3, largeRows: 25_000 }),
  postgresRestart({ mode: 'immediate', restarts: 3, largeRows: 25_000 }),
  sigterm({ stops: 3, largeRows: 50_000 }),
  relayKill({ messages: 200_000, kills: 10 }),
  relayKill({ messages: 200_000, kills: 10, exactlyOnce: true }),
  poison({ deadLetter: true, kinds: 'eight', messages: 10_000 }),
  poison({ deadLetter: true, kinds: 'oversize', messages: 10_000 }),
  poison({ deadLetter: false, kinds: 'all', messages: 10_000 }),
  slotDropped({ largeRows: 25_000 }),
];

async function main(): Promise<number> {
  const words = process.argv.slice(2).map((w) => w.toLowerCase());
  const cases = SUITE.filter(
    (c) => words.length === 0 || words.some((w) => c.name.toLowerCase().includes(w)),
  );
  if (cases.length === 0) {
    process.stderr.write(
      `faults: no case matches ${words.join(', ')} (cases: ${SUITE.map((c) => c.name).join(', ')})\n`,
    );
    return 2;
  }
  const seed = process.env.FAULTS_SEED ?? 'pgrelay';
  const results: CaseResult[] = [];
  for (const fault of cases) {
    const started = Date.now();
    process.stderr.write(`faults: ${fault.name} (seed ${seed})\n`);
    const measured = await fault.run(caseContext(seed, fault)).catch((error: unknown) => {
      process.stderr.write(`faults: ${fault.name}: ${(error as Error).stack ?? String(error)}\n`);
      return crashed(fault.name, fault.injected, error);
    });
    results.push(measured);
    process.stderr.write(
      `faults: ${fault.name}: ${passed(measured) ? 'PASS' : 'FAIL'} in ${Math.round((Date.now() - started) / 1000)} s\n`,
    );
  }
  process.stdout.write(`\n${table(results)}\n\nseed ${seed}\n`);
  return results.some((r) => r.lost !== 0) ? 1 : 0;
}

main().then(
  (code) => process.exit(code),
  (error: unknown) => {
    process.stderr.write(`faults: ${(error as Error).stack ?? String(error)}\n`);
    process.exit(1);
  },
);
