/** What one fault case measured, and the table row it becomes. */
export interface CaseResult {
  case: string;
  /** What was injected, how often, under what load. */
  injected: string;
  /** Changes the case made that must arrive (counted from the database or the input topic). */
  expected: number;
  /** Expected changes never seen in the output topic. */
  lost: number;
  /** Deliveries beyond the first, in all. */
  duplicated: number;
  /** Duplicates delivered after each fault; index 0: before the first fault, k: after fault k. */
  duplicatesPerFault: number[];
  /**
   * The duplicates each fault may cause: a fixed number (one batch; 0 after SIGTERM), or what was
   * measured in flight at each kill (what Kafka held beyond the position the process had stored:
   * what a restart sends again), in the order of the faults.
   */
  bound: { perFault: number } | { inFlight: number[] };
  /** Milliseconds from each fault to the source streaming again; undefined: it did not, in time. */
  recoveries: (number | undefined)[];
  /** Checks other than the counts that failed (exit code, a failure not named...). */
  problems: string[];
  /** What else a reader of the row should know. */
  notes: string[];
}

/** What the duplicates after fault `k` (0: before any fault) may be. */
export function allowedDuplicates(result: CaseResult, k: number): number {
  if ('perFault' in result.bound) return result.bound.perFault;
  return k === 0 ? 0 : (result.bound.inFlight[k - 1] ?? 0);
}

export function passed(result: CaseResult): boolean {
  return (
    result.lost === 0 &&
    result.duplicatesPerFault.every((duplicates, k) => duplicates <= allowedDuplicates(result, k)) &&
    result.problems.length === 0
  );
}

/** A case that could not measure: it counts as data lost, so the suite cannot pass unnoticed. */
export function crashed(name: string, injected: string, error: unknown): CaseResult {
  return {
    case: name,
    injected,
    expected: NaN,
    lost: NaN,
    duplicated: NaN,
    duplicatesPerFault: [],
    bound: { perFault: 0 },
    recoveries: [],
    problems: [`the case failed: ${error instanceof Error ? error.message.split('\n')[0] : String(error)}`],
    notes: [],
  };
}

const number = (n: number) => (Number.isNaN(n) ? '?' : n.toLocaleString('en-US'));
const seconds = (ms: number) => `${(ms / 1000).toFixed(1)} s`;

function recoveryText(recoveries: readonly (number | undefined)[]): string {
  if (recoveries.length === 0) return '—';
  const missed = recoveries.filter((ms) => ms === undefined).length;
  const times = recoveries.filter((ms) => ms !== undefined).sort((a, b) => a - b);
  const parts: string[] = [];
  if (times.length === 1) parts.push(seconds(times[0]!));
  else if (times.length > 1)
    parts.push(
      `median ${seconds(times[Math.floor((times.length - 1) / 2)]!)}, max ${seconds(times.at(-1)!)}`,
    );
  if (missed > 0) parts.push(`${missed} never`);
  return parts.join('; ');
}

const worst = (figures: readonly number[]) => (figures.length === 0 ? 0 : Math.max(...figures));

function duplicatesText(result: CaseResult): string {
  const perFault =
    result.recoveries.length > 1 ? ` (worst fault ${number(worst(result.duplicatesPerFault))})` : '';
  return `${number(result.duplicated)}${perFault}`;
}

function boundText(result: CaseResult): string {
  const several = result.recoveries.length > 1;
  if ('inFlight' in result.bound) {
    const inFlight = result.bound.inFlight;
    const sum = inFlight.reduce((a, b) => a + b, 0);
    return `in flight: ${number(sum)}${several ? ` (worst fault ${number(worst(inFlight))})` : ''}`;
  }
  if (result.bound.perFault === 0) return '0';
  return `${number(result.bound.perFault)}${several ? ' per fault' : ''}`;
}

const COLUMNS = [
  'case',
  'injected',
  'expected',
  'lost',
  'duplicated',
  'bound',
  'recovery',
  'verdict',
  'notes',
];

/** One Markdown table of every case: readable in a terminal, pasted as is into the README. */
export function table(results: readonly CaseResult[]): string {
  const rows = results.map((r) => [
    r.case,
    r.injected,
    number(r.expected),
    number(r.lost),
    duplicatesText(r),
    boundText(r),
    recoveryText(r.recoveries),
    passed(r) ? 'PASS' : 'FAIL',
    [...r.problems, ...r.notes].join('; ').replaceAll('|', '\\|'),
  ]);
  const widths = COLUMNS.map((name, i) => Math.max(name.length, ...rows.map((row) => row[i]!.length)));
  const line = (cells: string[]) => `| ${cells.map((cell, i) => cell.padEnd(widths[i]!)).join(' | ')} |`;
  return [line(COLUMNS), line(widths.map((w) => '-'.repeat(w))), ...rows.map(line)].join('\n');
}
