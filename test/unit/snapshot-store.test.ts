import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { after, describe, mock, test } from 'node:test';
import { StateFilePositions } from '../../src/sources/postgres/positions.js';
import { StateFileSnapshots } from '../../src/sources/postgres/snapshot/state-file-store.js';
import { INITIAL_RUN } from '../../src/sources/postgres/snapshot/store.js';
import { StateStore } from '../../src/state/store.js';

describe('StateFileSnapshots', () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'pgrelay-snapshot-store-'));
  after(() => fs.rmSync(dir, { recursive: true, force: true }));
  let files = 0;
  const open = () => StateStore.open(path.join(dir, `state-${files++}.db`));
  const snapshots = (state: StateStore, source: string) =>
    new StateFileSnapshots(state, source, new StateFilePositions(state, source, 's', 'pub'));

  test('keeps the cursor of the last acknowledged chunk per table, and when the run began, across reopening', async (t) => {
    t.after(() => mock.timers.reset());
    const startedAt = '2026-11-20T09:00:00.123Z';
    mock.timers.enable({ apis: ['Date'], now: Date.parse(startedAt) });
    const file = path.join(dir, 'reopen.db');
    const state = StateStore.open(file);
    const store = snapshots(state, 'db1');
    assert.deepEqual(await store.initial(), []);
    await store.beginInitial('initial', '0/16B3748', ['public.a', 'public.b']);
    mock.timers.tick(60_000);
    await store.saveChunk(INITIAL_RUN, 'public.a', ['10', 'x'], 10);
    await store.finishTable(INITIAL_RUN, 'public.a', 12);
    await store.saveChunk(INITIAL_RUN, 'public.b', 42, 300);
    state.close();
    const reopened = StateStore.open(file);
    assert.deepEqual(await snapshots(reopened, 'db1').initial(), [
      {
        run: 'initial',
        table: 'public.a',
        mode: 'initial',
        lsn: '0/16B3748',
        where: null,
        cursor: ['10', 'x'],
        rowsDone: 12,
        state: 'done',
        startedAt,
      },
      {
        run: 'initial',
        table: 'public.b',
        mode: 'initial',
        lsn: '0/16B3748',
        where: null,
        cursor: 42,
        rowsDone: 300,
        state: 'running',
        startedAt,
      },
    ]);
    assert.deepEqual(await snapshots(reopened, 'db2').initial(), [], 'per source');
    reopened.close();
  });

  test('completing stores the stream position in the same transaction; beginning again starts over', async () => {
    const state = open();
    const store = snapshots(state, 'db1');
    await store.beginInitial('initial', '0/10', ['public.a']);
    await store.completeInitial({ lsn: 0x10n });
    assert.deepEqual(
      (await store.initial()).map((r) => r.state),
      ['done'],
    );
    assert.equal(state.get('db1')?.position, '0/10');
    assert.deepEqual(state.get('db1')?.meta, { slot: 's', publication: 'pub' }, 'as a streamed position');
    await store.beginInitial('initial_only', '0/20', ['public.c']);
    assert.deepEqual(
      (await store.initial()).map((r) => [r.table, r.mode, r.state]),
      [['public.c', 'initial_only', 'pending']],
    );
    await store.completeInitial(undefined);
    assert.equal(state.get('db1')?.position, '0/10', 'initial_only stores no stream position');
    state.close();
  });

  test('a new backfill of a table replaces its finished ones; forget clears a source', async () => {
    const state = open();
    const store = snapshots(state, 'db1');
    await store.beginInitial('initial', '0/10', ['public.a']);
    await store.beginBackfill('b1', 'public.a', 'id > 5');
    await store.finishTable('b1', 'public.a', 3);
    await store.beginBackfill('b2', 'public.a', null);
    await store.beginBackfill('b3', 'public.z', null);
    await store.finishTable('b3', 'public.z', 0, 'failed');
    assert.deepEqual(
      (await store.backfills()).map((r) => [r.run, r.state]),
      [
        ['b2', 'pending'],
        ['b3', 'failed'],
      ],
    );
    await store.beginBackfill('b4', 'public.z', null);
    assert.deepEqual(
      (await store.backfills()).map((r) => r.run),
      ['b2', 'b4'],
    );
    assert.equal(StateFileSnapshots.forget(state, 'db1'), 3);
    assert.deepEqual(await store.initial(), []);
    state.close();
  });
});
