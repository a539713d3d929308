const DURATION_UNITS: Record<string, number> = { ms: 1, s: 1000, m: 60_000, h: 3_600_000 };
const SIZE_UNITS: Record<string, number> = {
  b: 1,
  kb: 1024,
  kib: 1024,
  mb: 1024 ** 2,
  mib: 1024 ** 2,
  gb: 1024 ** 3,
  gib: 1024 ** 3,
};

/**
 * "250ms", "10s", "1.5m", "1h30m" → milliseconds. "0" and 0 mean zero; bare numbers are not accepted
 * otherwise, because "is 10 seconds or milliseconds?" is exactly the ambiguity units remove.
 */
export function parseDuration(input: string | number): number {
  if (input === 0 || input === '0') return 0;
  if (typeof input !== 'string')
    throw new Error(`expected a duration string such as "250ms" or "10s", got ${input}`);
  const text = input.trim().toLowerCase();
  const parts = /^(?:\d+(?:\.\d+)?(?:ms|s|m|h))+$/.test(text)
    ? text.match(/\d+(?:\.\d+)?(?:ms|s|m|h)/g)
    : null;
  if (parts === null) throw new Error(`"${input}" is not a duration (use e.g. "250ms", "10s", "5m", "1h")`);
  let total = 0;
  for (const part of parts) {
    const [, amount, unit] = /^(\d+(?:\.\d+)?)(ms|s|m|h)$/.exec(part)!;
    total += Number(amount) * DURATION_UNITS[unit!]!;
  }
  return Math.round(total);
}

/** 1048576, "1048576", "16MB", "512KiB", "1.5GB" → bytes. KB/MB/GB are binary (1 MB = 1048576 bytes). */
export function parseSize(input: string | number): number {
  if (typeof input === 'number') {
    if (!Number.isSafeInteger(input) || input < 0) throw new Error(`expected a size in bytes, got ${input}`);
    return input;
  }
  const match = /^(\d+(?:\.\d+)?)\s*([a-z]*)$/i.exec(input.trim());
  const factor = match ? SIZE_UNITS[(match[2] || 'b').toLowerCase()] : undefined;
  if (!match || factor === undefined)
    throw new Error(`"${input}" is not a size (use e.g. 1048576, "512KB", "16MB", "1GB")`);
  return Math.round(Number(match[1]) * factor);
}

export function formatDuration(ms: number): string {
  if (ms % 3_600_000 === 0 && ms > 0) return `${ms / 3_600_000}h`;
  if (ms % 60_000 === 0 && ms > 0) return `${ms / 60_000}m`;
  if (ms % 1000 === 0 && ms > 0) return `${ms / 1000}s`;
  return `${ms}ms`;
}
