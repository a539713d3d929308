import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { after, describe, test } from 'node:test';
import { formatLsn } from '../../src/core/lsn.js';
import { SlotPositions, StateFilePositions } from '../../src/sources/postgres/positions.js';
import { StateStore } from '../../src/state/store.js';
import { waitFor } from '../harness/processes.js';

/** What the slot was told: the last standby status's flushed position. */
function confirmedTo(statuses: bigint[]): string | undefined {
  const last = statuses.at(-1);
  return last === undefined ? undefined : formatLsn(last);
}

/**
 * PostgreSQL hears only of stored positions: while the state file refuses writes, the slot stays
 * where the last stored position put it, and moves on by itself once a write succeeds.
 */
describe('SlotPositions: a position that cannot be stored is not confirmed', () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'pgrelay-positions-'));
  after(() => fs.rmSync(dir, { recursive: true, force: true }));

  test('held while the state file refuses writes, stored and confirmed once it takes them again', async () => {
    const store = StateStore.open(path.join(dir, 'state.db'));
    const positions = new SlotPositions(
      new StateFilePositions(store, 'db1', 'slot1', 'pgrelay_db1'),
      undefined,
      0,
      () => undefined,
    );
    const statuses: bigint[] = [];
    positions.startSession({ lsn: 0x100n }, 0x100n, (_received, flushed) => statuses.push(flushed));
    try {
      positions.advance({ lsn: 0x200n });
      await positions.flush();
      assert.equal(store.get('db1')?.position, '0/200');
      assert.equal(confirmedTo(statuses), '0/200');

      store.database.pragma('query_only = ON');
      positions.advance({ lsn: 0x300n });
      positions.advance({ lsn: 0x400n, partial: { commitLsn: 0x500n, events: 7 } });
      await waitFor(
        'two failed attempts to store the position',
        () => Promise.resolve(store.failedWrites >= 2 ? true : undefined),
        30_000,
      );
      positions.confirm();
      assert.equal(store.get('db1')?.position, '0/200', 'nothing new stored');
      assert.equal(confirmedTo(statuses), '0/200', 'the slot is not confirmed past what is stored');
      assert.equal(store.failure?.code, 'PGRELAY_STATE_WRITE');

      store.database.pragma('query_only = OFF');
      await waitFor(
        'the retry to store the delivered position',
        () => Promise.resolve(store.get('db1')?.position === '0/400' ? true : undefined),
        30_000,
      );
      assert.deepEqual(store.get('db1')?.meta, {
        slot: 'slot1',
        publication: 'pgrelay_db1',
        transaction: '0/500',
        delivered_events: 7,
      });
      assert.equal(store.failure, undefined, 'the write that succeeded cleared the failure');
      assert.equal(confirmedTo(statuses), '0/400', 'and the slot was confirmed up to it');
    } finally {
      positions.close();
      store.close();
    }
  });
});
