import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { Drain } from '../../src/core/drain.js';
import { within } from '../harness/processes.js';
import { UNIT_WAIT_MS } from '../helpers/sinks.js';

describe('Drain', () => {
  test('resolves at once when idle, later when the last in-flight item is acknowledged', async () => {
    let inFlight = 0;
    const drain = new Drain(() => inFlight === 0);
    await within(
      'an idle drain to let its waiter go',
      drain.until(new AbortController().signal),
      UNIT_WAIT_MS,
    );

    inFlight = 2;
    let done = false;
    const waiting = drain.until(new AbortController().signal).then(() => (done = true));
    inFlight = 1;
    drain.check();
    await Promise.resolve();
    assert.equal(done, false, 'one item still in flight');
    inFlight = 0;
    drain.check();
    await within('the drain to let its waiter go once nothing is in flight', waiting, UNIT_WAIT_MS);
    assert.equal(done, true);
  });

  test('a deadline ends the wait while work is still in flight', async () => {
    const drain = new Drain(() => false);
    const deadline = new AbortController();
    const waiting = drain.until(deadline.signal);
    deadline.abort();
    await within('the aborted deadline to end the wait', waiting, UNIT_WAIT_MS);
    await within('a wait with a passed deadline to end at once', drain.until(deadline.signal), UNIT_WAIT_MS);
  });

  test('release() lets waiters go when in-flight work was abandoned', async () => {
    const drain = new Drain(() => false);
    const waiting = drain.until(new AbortController().signal);
    drain.release();
    await within('release() to let the waiter go', waiting, UNIT_WAIT_MS);
  });
});
