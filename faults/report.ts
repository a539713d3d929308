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
  /** Duplicates after the single worst fault, against what one fault may cause. */
  worstDuplicates: number;
  duplicateBound: number;
  /** Milliseconds from each fault to the source streaming again; undefined: it did not, in time. */
  recoveries: (number | undefined)[];
  /** Checks other than the counts that failed (exit code, a failure not named...). */
  problems: string[];
  /** What else a reader of the row should know. */
  notes: string[];
}

export function passed(result: CaseResult): boolean {
  return result.lost === 0 && result.worstDuplicates <= result.duplicateBound && result.problems.length === 0;
}

/** A case that could not measure: it counts as data lost, so the suite cannot pass unnoticed. */
export function crashed(name: string, injected: string, error: unknown): CaseResult {
  return {
    case: name,
    injected,
    expected: NaN,
    lost: NaN,
    duplicated: NaN,
    worstDuplicates: NaN,
    duplicateBound: 0,
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

function duplicatesText(result: CaseResult): string {
  const perFault = result.recoveries.length > 1 ? ` (worst fault ${number(result.worstDuplicates)})` : '';
  return `${number(result.duplicated)}${perFault}`;
}

function boundText(result: CaseResult): string {
  if (result.duplicateBound === 0) return '0';
  return `${number(result.duplicateBound)}${result.recoveries.length > 1 ? ' per fault' : ''}`;
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
