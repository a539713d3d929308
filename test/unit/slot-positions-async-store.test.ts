import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { PgRelayError } from '../../src/core/errors.js';
import { SlotPositions } from '../../src/sources/postgres/positions.js';
import { ManualStore } from '../helpers/manual-position-store.js';

/**
 * A position store that answers later (standby = true keeps positions in PostgreSQL): one write at a
 * time, the slot confirmed only up to a write that succeeded, and nothing past a failed one.
 */
describe('SlotPositions: an asynchronous position store', () => {
  test('writes one position at a time, then the latest; the slot hears only of stored ones', async () => {
    const store = new ManualStore();
    const positions = new SlotPositions(store, undefined, 0, () => undefined);
    const confirmed: bigint[] = [];
    positions.startSession({ lsn: 0x100n }, 0x100n, (_received, flushed) => confirmed.push(flushed));

    positions.advance({ lsn: 0x200n });
    positions.persist();
    assert.equal(store.writes.length, 1);
    positions.advance({ lsn: 0x300n });
    positions.advance({ lsn: 0x400n });
    positions.persist();
    assert.equal(store.writes.length, 1, 'no second write while the first is under way');
    positions.confirm();
    assert.equal(confirmed.at(-1), 0x100n, 'not confirmed past what is stored');
    assert.equal(positions.resume?.lsn, undefined, 'nothing stored yet');

    store.writes[0]!.finish();
    await new Promise(setImmediate);
    assert.equal(positions.resume?.lsn, 0x200n);
    assert.equal(confirmed.at(-1), 0x200n, 'confirmed once stored');
    assert.equal(store.writes.length, 2, 'then the latest delivered position');
    assert.equal(store.writes[1]!.position.lsn, 0x400n);

    const flushed = positions.flush();
    store.writes[1]!.finish();
    await flushed;
    assert.equal(positions.resume?.lsn, 0x400n, 'flush() waits for the write under way');
    positions.close();
  });

  test('a failed write stores nothing and confirms nothing; takeOver resumes from the other holder', async () => {
    const store = new ManualStore();
    const positions = new SlotPositions(store, undefined, 0, () => undefined);
    const confirmed: bigint[] = [];
    positions.startSession({ lsn: 0x100n }, 0x100n, (_received, flushed) => confirmed.push(flushed));
    positions.advance({ lsn: 0x200n });
    const flushed = positions.flush();
    store.writes[0]!.finish(new PgRelayError('PGRELAY_PG_LEASE_LOST', 'lease lost', { retriable: true }));
    await flushed;
    positions.confirm();
    assert.equal(positions.resume, undefined, 'nothing stored');
    assert.equal(confirmed.at(-1), 0x100n, 'nothing confirmed');
    assert.equal(store.writes.length, 1, 'a lost lease is not written again by itself');

    // Another instance stored 0/180 (behind what this one delivered, which it never stored).
    positions.takeOver({ lsn: 0x180n, partial: { commitLsn: 0x190n, events: 3 } });
    assert.deepEqual(positions.resume, { lsn: 0x180n, partial: { commitLsn: 0x190n, events: 3 } });
    assert.deepEqual(positions.delivered, positions.resume, 'delivery resumes from the stored position');
    positions.close();
  });
});
