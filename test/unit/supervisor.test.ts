import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { PgRelayError } from '../../src/core/errors.js';
import { Supervisor } from '../../src/core/supervisor.js';

/** A supervisor over a recording component, with 1 ms backoff. */
function supervised(signal = new AbortController().signal) {
  const events: string[] = [];
  const supervisor = new Supervisor(
    {
      label: 'source db1',
      retrying: (error) => events.push(`retrying ${(error as PgRelayError).code}`),
      fail: (error) => events.push(`failed ${(error as PgRelayError).code}`),
      recovered: () => events.push('recovered'),
    },
    { initialMs: 1, maxMs: 1, signal },
  );
  return { supervisor, events };
}

const refused = () =>
  Object.assign(new Error('connect ECONNREFUSED 127.0.0.1:5432'), { code: 'ECONNREFUSED' });

describe('Supervisor: one lifecycle for sources, sinks and backfills', () => {
  test('retries a session that fails retriably or whose connection ends, until it is done', async () => {
    const { supervisor, events } = supervised();
    const outcomes: (() => Promise<'done' | 'ended'>)[] = [
      () => Promise.reject(refused()),
      () => Promise.resolve('ended'),
      () => Promise.reject(new PgRelayError('PGRELAY_KAFKA_UNAVAILABLE', 'down', { retriable: true })),
      () => Promise.resolve('done'),
    ];
    let cleanups = 0;
    let retries = 0;
    const outcome = await supervisor.run(() => outcomes.shift()!(), {
      cleanup: () => Promise.resolve(void cleanups++),
      beforeRetry: () => Promise.resolve(void retries++),
    });
    assert.equal(outcome, 'done');
    assert.deepEqual(events, [
      'retrying PGRELAY_UNAVAILABLE',
      'retrying PGRELAY_CONNECTION_ENDED',
      'retrying PGRELAY_KAFKA_UNAVAILABLE',
    ]);
    assert.equal(cleanups, 3);
    assert.equal(retries, 3);
  });

  test('stops, failed, on an error no retry can fix, and on a bug', async () => {
    for (const [error, code] of [
      [new PgRelayError('PGRELAY_PG_SLOT_MISSING', 'gone'), 'PGRELAY_PG_SLOT_MISSING'],
      [new TypeError("Cannot read properties of undefined (reading 'id')"), 'PGRELAY_INTERNAL'],
      [new Error('malformed something'), 'PGRELAY_INTERNAL'],
    ] as const) {
      const { supervisor, events } = supervised();
      let attempts = 0;
      const outcome = await supervisor.run(() => {
        attempts++;
        return Promise.reject(error);
      });
      assert.equal(outcome, 'failed');
      assert.equal(attempts, 1, `${code}: tried once`);
      assert.deepEqual(events, [`failed ${code}`]);
    }
  });

  test('an abort stops it quietly, also while it waits to retry', async () => {
    const abort = new AbortController();
    const { supervisor, events } = supervised(abort.signal);
    const outcome = await supervisor.run(() => {
      abort.abort();
      return Promise.reject(refused());
    });
    assert.equal(outcome, 'stopped');
    assert.deepEqual(events, []);
  });

  test('attempt() retries one operation, reports recovery, and throws what it cannot retry, named', async () => {
    const { supervisor, events } = supervised();
    let calls = 0;
    const result = await supervisor.attempt(() =>
      ++calls < 3 ? Promise.reject(refused()) : Promise.resolve(calls),
    );
    assert.equal(result, 3);
    assert.deepEqual(events, ['retrying PGRELAY_UNAVAILABLE', 'retrying PGRELAY_UNAVAILABLE', 'recovered']);
    await assert.rejects(
      supervisor.attempt(() => Promise.reject(new RangeError('offset out of range'))),
      (error: unknown) =>
        error instanceof PgRelayError &&
        error.code === 'PGRELAY_INTERNAL' &&
        /source db1: unexpected error: offset out of range/.test(error.message),
    );
  });
});
