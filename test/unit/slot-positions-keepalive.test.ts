import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { SlotPositions } from '../../src/sources/postgres/positions.js';
import { ManualStore } from '../helpers/manual-position-store.js';

function session(store: ManualStore) {
  const positions = new SlotPositions(store, { lsn: 0x100n }, 0, () => undefined);
  const statuses: { written: bigint; flushed: bigint; replyRequested: boolean }[] = [];
  positions.startSession({ lsn: 0x100n }, 0x100n, (written, flushed, replyRequested) =>
    statuses.push({ written, flushed, replyRequested }),
  );
  return { positions, statuses };
}

/**
 * PostgreSQL sends a keepalive after nearly every transaction it streams; a standby status answers
 * only those that ask for a reply, and stored positions are confirmed as they are stored.
 */
describe('SlotPositions: keepalives', () => {
  test('a keepalive that asks for no reply while changes stream gets none', () => {
    const { positions, statuses } = session(new ManualStore());
    positions.keepalive(0x200n, false, false);
    positions.keepalive(0x300n, false, false);
    assert.deepEqual(statuses, []);
    positions.close();
  });

  test('a keepalive that asks for a reply gets one, with what was received', () => {
    const { positions, statuses } = session(new ManualStore());
    positions.keepalive(0x200n, false, false);
    positions.keepalive(0x300n, false, true);
    assert.deepEqual(statuses, [{ written: 0x300n, flushed: 0x100n, replyRequested: false }]);
    positions.close();
  });

  test('idle, a keepalive past the delivered position is stored, then confirmed', async () => {
    const store = new ManualStore();
    const { positions, statuses } = session(store);
    positions.keepalive(0x400n, true, false);
    assert.equal(store.writes.length, 1);
    assert.equal(store.writes[0]!.position.lsn, 0x400n);
    assert.deepEqual(statuses, [], 'nothing confirmed before it is stored');
    store.writes[0]!.finish();
    await new Promise(setImmediate);
    assert.deepEqual(statuses, [{ written: 0x400n, flushed: 0x400n, replyRequested: false }]);
    positions.close();
  });
});
