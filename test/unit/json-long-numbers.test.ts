import assert from 'node:assert/strict';
import { test } from 'node:test';
import { parseJsonExact } from '../../src/core/json.js';

/** A deterministic pseudo-random sequence, so a failure names an input that can be replayed. */
function random(seed: number): () => number {
  let state = seed >>> 0;
  return () => {
    state = (state * 1664525 + 1013904223) >>> 0;
    return state / 2 ** 32;
  };
}

const FILLER = 'ab-0.9eE+xyz12345';

test('a number a double cannot hold keeps its digits wherever it stands in the text', () => {
  const next = random(7);
  for (let i = 0; i < 2000; i++) {
    const pad = (max: number) =>
      Array.from({ length: Math.floor(next() * max) }, () => FILLER[Math.floor(next() * FILLER.length)]).join(
        '',
      );
    const digits =
      String(1 + Math.floor(next() * 9)) +
      Array.from({ length: 15 + Math.floor(next() * 10) }, () => Math.floor(next() * 10)).join('');
    const text = `{"before":"${pad(40)}","n":${digits},"after":"${pad(40)}"}`;
    const written = JSON.stringify(parseJsonExact(text));
    assert.ok(written.includes(`"n":${digits}`), `${text} → ${written}`);
  }
});

test('numbers a double holds, and long runs of number characters inside strings, parse as JSON.parse does', () => {
  const next = random(11);
  for (let i = 0; i < 2000; i++) {
    const run = Array.from({ length: Math.floor(next() * 40) }, () => FILLER[Math.floor(next() * 6)]).join(
      '',
    );
    const text = `{"s":"${run}","n":${Math.floor(next() * 1e12)},"f":${next()}}`;
    assert.deepEqual(parseJsonExact(text), JSON.parse(text), text);
  }
});

test('a long number right after a shorter one (one comma between) keeps its digits', () => {
  const next = random(13);
  for (let i = 0; i < 2000; i++) {
    const short = String(Math.floor(next() * 10 ** Math.floor(1 + next() * 12)));
    // 16 or 17 digits from 2^53 + 1 up: most are not doubles.
    const digits = String(9007199254740993n + BigInt(Math.floor(next() * 1e15)) * (next() < 0.5 ? 1n : 10n));
    const text = `[${'"x",'.repeat(Math.floor(next() * 8))}${short},${digits}]`;
    const written = JSON.stringify(parseJsonExact(text));
    assert.ok(written.endsWith(`,${digits}]`), `${text} → ${written}`);
  }
});
