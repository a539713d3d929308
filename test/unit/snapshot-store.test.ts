import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { after, describe, mock, test } from 'node:test';
import { INITIAL_RUN, SnapshotStore } from '../../src/sources/postgres/snapshot/store.js';
import { StateStore } from '../../src/state/store.js';

describe('SnapshotStore', () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'pgrelay-snapshot-store-'));
  after(() => fs.rmSync(dir, { recursive: true, force: true }));
  let files = 0;
  const open = () => StateStore.open(path.join(dir, `state-${files++}.db`));

  test('keeps the cursor of the last acknowledged chunk per table, and when the run began, across reopening', (t) => {
    t.after(() => mock.timers.reset());
    const startedAt = '2026-11-20T09:00:00.123Z';
    mock.timers.enable({ apis: ['Date'], now: Date.parse(startedAt) });
    const file = path.join(dir, 'reopen.db');
    const state = StateStore.open(file);
    const store = new SnapshotStore(state, 'db1');
    assert.deepEqual(store.initial(), []);
    store.beginInitial('initial', '0/16B3748', ['public.a', 'public.b']);
    mock.timers.tick(60_000);
    store.saveChunk(INITIAL_RUN, 'public.a', ['10', 'x'], 10);
    store.finishTable(INITIAL_RUN, 'public.a', 12);
    store.saveChunk(INITIAL_RUN, 'public.b', 42, 300);
    state.close();
    const reopened = StateStore.open(file);
    assert.deepEqual(new SnapshotStore(reopened, 'db1').initial(), [
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
    assert.deepEqual(new SnapshotStore(reopened, 'db2').initial(), [], 'per source');
    reopened.close();
  });

  test('completing stores the stream position in the same transaction; beginning again starts over', () => {
    const state = open();
    const store = new SnapshotStore(state, 'db1');
    store.beginInitial('initial', '0/10', ['public.a']);
    store.completeInitial({ lsn: '0/10', meta: { slot: 's' } });
    assert.deepEqual(
      store.initial().map((r) => r.state),
      ['done'],
    );
    assert.equal(state.get('db1')?.position, '0/10');
    store.beginInitial('initial_only', '0/20', ['public.c']);
    assert.deepEqual(
      store.initial().map((r) => [r.table, r.mode, r.state]),
      [['public.c', 'initial_only', 'pending']],
    );
    store.completeInitial(undefined);
    assert.equal(state.get('db1')?.position, '0/10', 'initial_only stores no stream position');
    state.close();
  });

  test('a new backfill of a table replaces its finished ones; forget clears a source', () => {
    const state = open();
    const store = new SnapshotStore(state, 'db1');
    store.beginInitial('initial', '0/10', ['public.a']);
    store.beginBackfill('b1', 'public.a', 'id > 5');
    store.finishTable('b1', 'public.a', 3);
    store.beginBackfill('b2', 'public.a', null);
    store.beginBackfill('b3', 'public.z', null);
    store.finishTable('b3', 'public.z', 0, 'failed');
    assert.deepEqual(
      store.backfills().map((r) => [r.run, r.state]),
      [
        ['b2', 'pending'],
        ['b3', 'failed'],
      ],
    );
    store.beginBackfill('b4', 'public.z', null);
    assert.deepEqual(
      store.backfills().map((r) => r.run),
      ['b2', 'b4'],
    );
    assert.equal(SnapshotStore.forget(state, 'db1'), 3);
    assert.deepEqual(store.initial(), []);
    state.close();
  });
});
