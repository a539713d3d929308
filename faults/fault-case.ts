import { createHash } from 'node:crypto';
import { type CaseResult, allowedDuplicates } from './report.js';
import type { Counts } from './tally.js';

/**
 * Every case's sink batch_size: what one fault of Kafka or PostgreSQL can leave delivered but not
 * acknowledged. Kills of pgrelay are held to what was measured in flight at each instead.
 */
export const BATCH_SIZE = 1000;

export interface CaseContext {
  /** Uniform in [0, 1), from the suite's seed and the case's name: the same moments every run. */
  random: () => number;
  /** A progress line (stderr); the table is the result. */
  log: (message: string) => void;
}

export interface FaultCase {
  name: string;
  /** What is injected, for the table. */
  injected: string;
  run(context: CaseContext): Promise<CaseResult>;
}

/** mulberry32 seeded from `seed`: small, fast, and the same sequence on every machine. */
export function seededRandom(seed: string): () => number {
  let state = createHash('sha256').update(seed).digest().readUInt32LE(0);
  return () => {
    state = (state + 0x6d2b79f5) >>> 0;
    let t = state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** The row of a case from what it counted and checked. */
export function result(
  fault: Pick<FaultCase, 'name' | 'injected'>,
  counts: Counts,
  checks: {
    bound: CaseResult['bound'];
    recoveries?: (number | undefined)[];
    problems?: (string | undefined)[];
    notes?: string[];
    /** Deliveries of changes not expected are fine (they came after what the case counts). */
    extraDeliveries?: boolean;
  },
): CaseResult {
  const problems = (checks.problems ?? []).filter((p): p is string => p !== undefined);
  if (counts.lost > 0) problems.push(`lost e.g. ${counts.lostSample.join(', ')}`);
  if (counts.unexpected > 0 && !checks.extraDeliveries)
    problems.push(`${counts.unexpected} deliveries of changes that were never made`);
  const measured: CaseResult = {
    case: fault.name,
    injected: fault.injected,
    expected: counts.expected,
    lost: counts.lost,
    duplicated: counts.duplicated,
    duplicatesPerFault: counts.duplicatesPerFault,
    bound: checks.bound,
    recoveries: checks.recoveries ?? [],
    problems,
    notes: [...(checks.notes ?? [])],
  };
  // Which faults caused more than they may: the verdict says that one did, this says which.
  for (const [k, duplicates] of counts.duplicatesPerFault.entries()) {
    const allowed = allowedDuplicates(measured, k);
    if (duplicates > allowed)
      measured.notes.push(
        `${k === 0 ? 'before any fault' : `fault ${k}`}: ${duplicates.toLocaleString('en-US')} duplicates, ${allowed.toLocaleString('en-US')} ${'inFlight' in checks.bound ? 'in flight' : 'allowed'}`,
      );
  }
  return measured;
}

/** The context a case runs in: its own random sequence (the seed and its name) and a progress log. */
export function caseContext(seed: string, fault: Pick<FaultCase, 'name'>): CaseContext {
  return {
    random: seededRandom(`${seed}/${fault.name}`),
    log: (message) => process.stderr.write(`faults: ${fault.name}: ${message}\n`),
  };
}
