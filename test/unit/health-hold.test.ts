import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { Health } from '../../src/core/component.js';
import { PgRelayError } from '../../src/core/errors.js';

const unstored = new PgRelayError('PGRELAY_STATE_WRITE', 'state.path /x/state.db: cannot write', {
  retriable: true,
});

/** A component that works but cannot store its positions is not healthy, whatever its work reports. */
describe('Health: positions held', () => {
  test('a running component shows retrying with the error while held, running again when released', () => {
    const health = new Health();
    health.set('running');
    assert.ok(health.healthy);

    health.hold(unstored);
    assert.equal(health.state, 'retrying');
    assert.equal(health.healthy, false);
    assert.equal(health.lastError?.code, 'PGRELAY_STATE_WRITE');

    health.set('running', undefined);
    assert.equal(health.state, 'retrying', 'its work reporting running again does not hide the hold');

    health.release();
    assert.equal(health.state, 'running');
    assert.ok(health.healthy);
    assert.equal(health.lastError?.code, 'PGRELAY_STATE_WRITE', 'the last error stays on record');
  });

  test('states other than running show as they are; a hold released later leaves them', () => {
    const health = new Health();
    health.hold(unstored);
    assert.equal(health.state, 'starting');
    health.set('failed', new PgRelayError('PGRELAY_PG_SERVER', 'boom'));
    assert.equal(health.state, 'failed');
    health.release();
    assert.equal(health.state, 'failed');
    assert.equal(health.lastError?.code, 'PGRELAY_PG_SERVER');
  });
});
