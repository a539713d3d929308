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

export function formatResult(result: BenchResult): string {
  const lines = [`== ${result.name}`];
  lines.push(
    `   ${result.count} ${result.unit} in ${result.seconds.toFixed(2)} s = ${Math.round(result.perSecond).toLocaleString('en-US')} ${result.unit}/s`,
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
    const ratio = result.perSecond / result.baseline.perSecond;
    lines.push(
      `   baseline ${result.baseline.name}: ${Math.round(result.baseline.perSecond).toLocaleString('en-US')} ${result.unit}/s; ratio ${ratio.toFixed(2)}`,
    );
  }
  for (const target of result.targets ?? []) lines.push(`   target: ${target}`);
  for (const note of result.notes ?? []) lines.push(`   note: ${note}`);
  return lines.join('\n');
}

export function percentile(sorted: readonly number[], p: number): number {
  if (sorted.length === 0) return NaN;
  const index = Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1));
  return sorted[index]!;
}
