import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { Drain } from '../../src/core/drain.js';

describe('Drain', () => {
  test('resolves at once when idle, later when the last in-flight item is acknowledged', async () => {
    let inFlight = 0;
    const drain = new Drain(() => inFlight === 0);
    await drain.until(new AbortController().signal);

    inFlight = 2;
    let done = false;
    const waiting = drain.until(new AbortController().signal).then(() => (done = true));
    inFlight = 1;
    drain.check();
    await Promise.resolve();
    assert.equal(done, false, 'one item still in flight');
    inFlight = 0;
    drain.check();
    await waiting;
    assert.equal(done, true);
  });

  test('a deadline ends the wait while work is still in flight', async () => {
    const drain = new Drain(() => false);
    const deadline = new AbortController();
    const waiting = drain.until(deadline.signal);
    deadline.abort();
    await waiting;
    await drain.until(deadline.signal);
  });

  test('release() lets waiters go when in-flight work was abandoned', async () => {
    const drain = new Drain(() => false);
    const waiting = drain.until(new AbortController().signal);
    drain.release();
    await waiting;
  });
});
