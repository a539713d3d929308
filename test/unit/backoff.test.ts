import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { Backoff } from '../../src/core/backoff.js';

describe('Backoff', () => {
  test('delays double from the initial one and stop growing at the maximum', () => {
    const backoff = new Backoff({ initialMs: 100, maxMs: 1000, jitter: 0 });
    const delays = Array.from({ length: 7 }, () => backoff.next());
    assert.deepEqual(delays, [100, 200, 400, 800, 1000, 1000, 1000]);
    backoff.reset();
    assert.equal(backoff.next(), 100, 'reset starts over');
  });

  test('jitter only shortens a delay, by at most its fraction', () => {
    const backoff = new Backoff({ initialMs: 1000, maxMs: 1000, jitter: 0.2 });
    for (let i = 0; i < 200; i++) {
      const delay = backoff.next();
      assert.ok(delay >= 800 && delay <= 1000, `${delay} outside [800, 1000]`);
    }
  });
});
