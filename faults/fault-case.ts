import { createHash } from 'node:crypto';
import type { CaseResult } from './report.js';
import type { Counts } from './tally.js';

/** Every case's sink batch_size: what one fault can leave delivered but not acknowledged. */
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
    duplicateBound: number;
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
  return {
    case: fault.name,
    injected: fault.injected,
    expected: counts.expected,
    lost: counts.lost,
    duplicated: counts.duplicated,
    worstDuplicates: counts.worstDuplicates,
    duplicateBound: checks.duplicateBound,
    recoveries: checks.recoveries ?? [],
    problems,
    notes: checks.notes ?? [],
  };
}

/** The context a case runs in: its own random sequence (the seed and its name) and a progress log. */
export function caseContext(seed: string, fault: Pick<FaultCase, 'name'>): CaseContext {
  return {
    random: seededRandom(`${seed}/${fault.name}`),
    log: (message) => process.stderr.write(`faults: ${fault.name}: ${message}\n`),
  };
}
