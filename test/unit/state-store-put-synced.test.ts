import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { after, describe, test } from 'node:test';
import Database from 'better-sqlite3';
import { StateFileGoneError, StateStore, StateWriteError } from '../../src/state/store.js';

const SYNCHRONOUS_FULL = 2;

/** What another connection (a restart, `pgrelay positions`) reads for `source`. */
function storedElsewhere(file: string, source: string): string | undefined {
  const other = new Database(file, { readonly: true });
  try {
    const row = other
      .prepare<[string], { position: string }>('SELECT position FROM positions WHERE source = ?')
      .get(source);
    return row?.position;
  } finally {
    other.close();
  }
}

/**
 * putSynced(): a position committed without an fsync on the event loop, then the WAL synced in the
 * thread pool; it resolves only once the position is on disk, and rejects when it cannot be.
 */
describe('StateStore.putSynced', () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'pgrelay-state-synced-'));
  after(() => fs.rmSync(dir, { recursive: true, force: true }));
  let files = 0;
  const newFile = () => path.join(dir, `state-${files++}.db`);

  test('stores the position for other connections, and leaves the connection at synchronous=FULL', async () => {
    const file = newFile();
    const store = StateStore.open(file);
    await store.putSynced('db1', '0/10', { slot: 's1' });
    assert.equal(storedElsewhere(file, 'db1'), '0/10');
    assert.deepEqual(store.get('db1')?.meta, { slot: 's1' });
    assert.equal(store.database.pragma('synchronous', { simple: true }), SYNCHRONOUS_FULL);
    // Writes in flight together each resolve; the last one is what stays.
    await Promise.all(['0/11', '0/12', '0/13'].map((position) => store.putSynced('db1', position)));
    assert.equal(storedElsewhere(file, 'db1'), '0/13');
    assert.equal(store.failure, undefined);
    store.close();
  });

  test('rejects, as put() throws, when SQLite refuses the write, and is heard of', async () => {
    const file = newFile();
    const store = StateStore.open(file);
    const heard: (string | undefined)[] = [];
    store.watch((failure) => heard.push(failure?.code));
    await store.putSynced('db1', '0/1');
    store.database.pragma('query_only = ON');
    await assert.rejects(
      store.putSynced('db1', '0/2'),
      (error) => error instanceof StateWriteError && error.retriable,
    );
    assert.equal(
      store.database.pragma('synchronous', { simple: true }),
      SYNCHRONOUS_FULL,
      'restored after a failure too',
    );
    assert.equal(storedElsewhere(file, 'db1'), '0/1');
    store.database.pragma('query_only = OFF');
    await store.putSynced('db1', '0/3');
    assert.deepEqual(heard, ['PGRELAY_STATE_WRITE', undefined]);
    store.close();
  });

  test('rejects when the WAL it would sync is not there: the position is not known to be on disk', async () => {
    const file = newFile();
    const store = StateStore.open(file);
    const heard: (string | undefined)[] = [];
    store.watch((failure) => heard.push(failure?.code));
    store.put('db1', '0/1');
    // SQLite goes on writing to the file it has open; a restart would not find what it wrote there.
    fs.rmSync(`${file}-wal`);
    await assert.rejects(
      store.putSynced('db1', '0/2'),
      (error) =>
        error instanceof StateWriteError &&
        error.retriable &&
        error.message.startsWith(`state.path ${file}: cannot write: ENOENT`),
    );
    assert.equal(store.failedWrites, 1);
    assert.equal(store.failure?.code, 'PGRELAY_STATE_WRITE');
    assert.deepEqual(heard, ['PGRELAY_STATE_WRITE'], 'its commit is not heard of as a success first');
    store.close();
  });

  test('rejects with StateFileGoneError when the state file was deleted', async () => {
    const file = newFile();
    const store = StateStore.open(file);
    await store.putSynced('db1', '0/1');
    fs.rmSync(file);
    await assert.rejects(store.putSynced('db1', '0/2'), StateFileGoneError);
    store.close();
  });
});
