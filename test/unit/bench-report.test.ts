import assert from 'node:assert/strict';
import { test } from 'node:test';
import { type BenchResult, formatResult, formatTable } from '../../bench/report.js';

test("make bench's table prints each figure as the scenario's lines above it do", () => {
  // Halves, and a tenth a double stores just under its decimal (9.35 is 9.3499…).
  const result: BenchResult = {
    name: '(a) one transaction: PostgreSQL → pgrelay → Kafka',
    unit: 'rows',
    count: 1_000_000,
    seconds: 13.15,
    perSecond: 76_040.5,
    cpuMicrosPerUnit: 9.35,
    peakRssMb: 144.5,
    baseline: { name: 'pg_recvlogical', perSecond: 148_688.5 },
  };
  const lines = formatResult(result);
  const row = formatTable([result])
    .split('\n')[2]!
    .split('|')
    .map((cell) => cell.trim());
  assert.deepEqual(row.slice(1, 7), ['(a) one transaction', '76,041 rows', '148,689', '0.51', '9.3', '145']);
  assert.match(lines, /= 76,041 rows\/s/);
  assert.match(lines, /pg_recvlogical: 148,689 rows\/s; ratio 0\.51/);
  assert.match(lines, /pgrelay CPU 9\.3 µs per row/);
  assert.match(lines, /peak RSS 145 MB/);
});
