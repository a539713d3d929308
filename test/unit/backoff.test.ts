import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { Backoff, retry } from '../../src/core/backoff.js';
import { PgRelayError } from '../../src/core/errors.js';

const transient = () => new PgRelayError('TEST_DOWN', 'down', { retriable: true });
const permanent = () => new PgRelayError('TEST_BROKEN', 'broken', { retriable: false });

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

describe('retry', () => {
  test('retries retriable errors, reporting each, until the operation succeeds', async () => {
    const reported: { attempt: number; delay: number }[] = [];
    let calls = 0;
    const result = await retry(
      (attempt) => {
        calls++;
        if (attempt < 4) throw transient();
        return Promise.resolve(`done on ${attempt}`);
      },
      {
        initialMs: 1,
        maxMs: 4,
        jitter: 0,
        onRetry: (_e, delay, attempt) => reported.push({ attempt, delay }),
      },
    );
    assert.equal(result, 'done on 4');
    assert.equal(calls, 4);
    assert.deepEqual(reported, [
      { attempt: 1, delay: 1 },
      { attempt: 2, delay: 2 },
      { attempt: 3, delay: 4 },
    ]);
  });

  test('network trouble (a socket error code) is retried; an unnamed error is not', async () => {
    let calls = 0;
    const reset = Object.assign(new Error('read ECONNRESET'), { code: 'ECONNRESET' });
    await retry(() => (++calls === 1 ? Promise.reject(reset) : Promise.resolve()), {
      initialMs: 1,
      maxMs: 1,
    });
    assert.equal(calls, 2);
    calls = 0;
    await assert.rejects(
      retry(() => (++calls === 1 ? Promise.reject(new TypeError('a bug')) : Promise.resolve()), {
        initialMs: 1,
        maxMs: 1,
      }),
      TypeError,
    );
    assert.equal(calls, 1);
  });

  test('a non-retriable error stops at once', async () => {
    let calls = 0;
    const error = permanent();
    await assert.rejects(
      retry(
        () => {
          calls++;
          throw error;
        },
        { initialMs: 1, maxMs: 1, onRetry: () => assert.fail('must not retry') },
      ),
      (thrown) => thrown === error,
    );
    assert.equal(calls, 1);
  });

  test('an abort ends the wait and the loop with the last error', async () => {
    const controller = new AbortController();
    let calls = 0;
    const running = retry(
      () => {
        calls++;
        throw transient();
      },
      // A delay no test waits for: only the abort can end it.
      {
        initialMs: 3_600_000,
        maxMs: 3_600_000,
        signal: controller.signal,
        onRetry: () => controller.abort(),
      },
    );
    await assert.rejects(running, /down/);
    assert.equal(calls, 1);
  });
});
