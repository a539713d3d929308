/** One figure `make bench` prints: a measured rate next to the baseline it ran beside. */
export interface BenchResult {
  name: string;
  /** What was moved: rows, changes or messages. */
  unit: string;
  count: number;
  seconds: number;
  perSecond: number;
  latencyMs?: { p50: number; p99: number };
  peakRssMb?: number;
  /** CPU time pgrelay spent per unit (user + system), µs: steadier than rates on a shared machine. */
  cpuMicrosPerUnit?: number;
  baseline?: { name: string; perSecond: number };
  /** Targets from the issues, printed as met or not; never asserted. */
  targets?: string[];
  notes?: string[];
}

/**
 * How long a scenario leaves pgrelay idle before reading its memory at rest: past the idle memory
 * release (release_memory_when_idle, 10 s by default, runs within 20 s of the last event).
 */
export const IDLE_SETTLE_MS = 25_000;

/**
 * How often a scenario asks pgrelay whether it runs, and whether a timed run is done. The harness's
 * waits back off to 200 ms: a drain timed from a start seen that late counted the rows relayed
 * meanwhile without their time or CPU, and an end seen late added up to 200 ms. Starts are asked for
 * often (before the timed part, or a few requests in it); ends less, since each /status costs pgrelay
 * about 0.3 ms of CPU and /stats 0.2 (measured), counted in the run's CPU.
 */
export const POLL_MS = { running: 10, done: 50 } as const;

/**
 * A rate as make bench prints it, in the scenario's lines and the table alike: rounded half up, with
 * thousands separators (toLocaleString alone rounds halves to even).
 */
export function wholeNumber(value: number): string {
  return Math.round(value).toLocaleString('en-US');
}

export function formatResult(result: BenchResult): string {
  const lines = [`== ${result.name}`];
  lines.push(
    `   ${result.count} ${result.unit} in ${result.seconds.toFixed(2)} s = ${wholeNumber(result.perSecond)} ${result.unit}/s`,
  );
  if (result.latencyMs)
    lines.push(
      `   latency p50 ${result.latencyMs.p50.toFixed(1)} ms, p99 ${result.latencyMs.p99.toFixed(1)} ms`,
    );
  if (result.peakRssMb !== undefined) lines.push(`   peak RSS ${result.peakRssMb.toFixed(0)} MB`);
  if (result.cpuMicrosPerUnit !== undefined) {
    lines.push(
      `   pgrelay CPU ${result.cpuMicrosPerUnit.toFixed(1)} µs per ${result.unit.replace(/s$/, '')} (user + system)`,
    );
  }
  if (result.baseline) {
    lines.push(
      `   baseline ${result.baseline.name}: ${wholeNumber(result.baseline.perSecond)} ${result.unit}/s; ratio ${ratio(result)!.toFixed(2)}`,
    );
  }
  for (const target of result.targets ?? []) lines.push(`   target: ${target}`);
  for (const note of result.notes ?? []) lines.push(`   note: ${note}`);
  return lines.join('\n');
}

function ratio(result: BenchResult): number | undefined {
  return result.baseline === undefined ? undefined : result.perSecond / result.baseline.perSecond;
}

/**
 * Every scenario in one table: rate, the baseline's rate and the ratio, CPU per unit, peak RSS,
 * latency where measured. The scenario is the name up to its first colon.
 */
export function formatTable(results: readonly BenchResult[]): string {
  const header = ['scenario', 'rate/s', 'baseline/s', 'ratio', 'CPU µs/unit', 'peak RSS MB', 'p50/p99 ms'];
  // toFixed, as the scenario's lines: toLocaleString would round 9.35 (stored as 9.3499…) up to 9.4.
  const fixed = (value: number | undefined, digits: number) =>
    value === undefined ? '-' : value.toFixed(digits);
  const rows = results.map((r) => [
    r.name.split(':')[0]!,
    r.perSecond > 0 ? `${wholeNumber(r.perSecond)} ${r.unit}` : '-',
    r.baseline === undefined ? '-' : wholeNumber(r.baseline.perSecond),
    fixed(ratio(r), 2),
    fixed(r.cpuMicrosPerUnit, 1),
    fixed(r.peakRssMb, 0),
    r.latencyMs === undefined ? '-' : `${r.latencyMs.p50.toFixed(0)}/${r.latencyMs.p99.toFixed(0)}`,
  ]);
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((row) => row[i]!.length)));
  const line = (cells: string[]) => `| ${cells.map((c, i) => c.padEnd(widths[i]!)).join(' | ')} |`;
  return [line(header), line(widths.map((w) => '-'.repeat(w))), ...rows.map(line)].join('\n');
}

export function percentile(sorted: readonly number[], p: number): number {
  if (sorted.length === 0) return NaN;
  const index = Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1));
  return sorted[index]!;
}
