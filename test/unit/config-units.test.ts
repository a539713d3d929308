import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { formatDuration, parseDuration, parseSize } from '../../src/config/units.js';

describe('durations', () => {
  test('take units, fractions and combinations', () => {
    const cases: [string | number, number][] = [
      ['250ms', 250],
      ['10s', 10_000],
      ['1.5s', 1500],
      ['5m', 300_000],
      ['1h', 3_600_000],
      ['1h30m', 5_400_000],
      [' 10S ', 10_000],
      ['0', 0],
      [0, 0],
    ];
    for (const [input, ms] of cases) assert.equal(parseDuration(input), ms, JSON.stringify(input));
  });

  test('refuse bare numbers and anything without a known unit', () => {
    assert.throws(() => parseDuration(30), {
      message: 'expected a duration string such as "250ms" or "10s", got 30',
    });
    for (const input of ['10', '10 s', '5sec', '-5s', '1m30', '']) {
      assert.throws(() => parseDuration(input), {
        message: `"${input}" is not a duration (use e.g. "250ms", "10s", "5m", "1h")`,
      });
    }
  });

  test('print with the largest whole unit, so check-config output reads like the sample', () => {
    const cases: [number, string][] = [
      [5, '5ms'],
      [1500, '1500ms'],
      [30_000, '30s'],
      [90_000, '90s'],
      [60_000, '1m'],
      [3_600_000, '1h'],
    ];
    for (const [ms, text] of cases) {
      assert.equal(formatDuration(ms), text);
      assert.equal(parseDuration(text), ms, 'what is printed parses back');
    }
  });
});

describe('sizes', () => {
  test('take integers and strings with binary units', () => {
    const cases: [string | number, number][] = [
      [1048576, 1048576],
      ['1048576', 1048576],
      ['0', 0],
      ['512KB', 512 * 1024],
      ['512KiB', 512 * 1024],
      ['16MB', 16 * 1024 ** 2],
      ['16 mb', 16 * 1024 ** 2],
      ['1.5GB', 1.5 * 1024 ** 3],
    ];
    for (const [input, bytes] of cases) assert.equal(parseSize(input), bytes, JSON.stringify(input));
  });

  test('refuse negative, fractional byte counts and unknown units', () => {
    for (const input of [-1, 1.5]) {
      assert.throws(() => parseSize(input), { message: `expected a size in bytes, got ${input}` });
    }
    for (const input of ['1TB', 'MB', '', 'lots']) {
      assert.throws(() => parseSize(input), {
        message: `"${input}" is not a size (use e.g. 1048576, "512KB", "16MB", "1GB")`,
      });
    }
  });
});
