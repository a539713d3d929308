import assert from 'node:assert/strict';
import { getEventListeners } from 'node:events';
import { describe, test } from 'node:test';
import { Waiters } from '../../src/core/waiters.js';

describe('Waiters', () => {
  test('release() resolves every wait and leaves no listener on the signal', async () => {
    const waiters = new Waiters();
    const signal = new AbortController().signal;
    let resolved = 0;
    const waits = [waiters.wait(signal), waiters.wait(signal)].map((wait) => wait.then(() => resolved++));
    assert.equal(getEventListeners(signal, 'abort').length, 2);
    await new Promise((resolve) => setImmediate(resolve));
    assert.equal(resolved, 0, 'nothing resolves before release()');

    waiters.release();
    await Promise.all(waits);
    assert.equal(resolved, 2);
    assert.equal(getEventListeners(signal, 'abort').length, 0);
  });

  test('an abort resolves the waits on that signal only; release() then resolves the rest', async () => {
    const waiters = new Waiters();
    const aborting = new AbortController();
    const other = new AbortController().signal;
    const order: string[] = [];
    const aborted = waiters.wait(aborting.signal).then(() => order.push('aborted'));
    const released = waiters.wait(other).then(() => order.push('released'));

    aborting.abort();
    await aborted;
    await new Promise((resolve) => setImmediate(resolve));
    assert.deepEqual(order, ['aborted']);
    assert.equal(getEventListeners(aborting.signal, 'abort').length, 0);

    waiters.release();
    await released;
    assert.deepEqual(order, ['aborted', 'released']);
  });

  test('a wait on a signal aborted already resolves at once', async () => {
    const controller = new AbortController();
    controller.abort();
    await new Waiters().wait(controller.signal);
    assert.equal(getEventListeners(controller.signal, 'abort').length, 0);
  });
});
