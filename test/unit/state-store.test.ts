import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { after, describe, test } from 'node:test';
import Database from 'better-sqlite3';
import { SCHEMA_VERSION } from '../../src/state/migrations.js';
import {
  StateError,
  type StateFailure,
  StateFileGoneError,
  StateStore,
  StateWriteError,
} from '../../src/state/store.js';

const SYNCHRONOUS_NORMAL = 1;
const SYNCHRONOUS_FULL = 2;

describe('StateStore', () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'pgrelay-state-'));
  after(() => fs.rmSync(dir, { recursive: true, force: true }));
  let files = 0;
  const newFile = () => path.join(dir, `state-${files++}.db`);

  test('uses a WAL journal and synchronous=FULL, also after close and reopen', () => {
    const file = newFile();
    const store = StateStore.open(file);
    assert.equal(store.database.pragma('journal_mode', { simple: true }), 'wal');
    assert.equal(store.database.pragma('synchronous', { simple: true }), SYNCHRONOUS_FULL);
    store.put('db1', '0/1');
    store.close();

    // What the test guards against: better-sqlite3 reopens a WAL database at NORMAL.
    const plain = new Database(file);
    assert.equal(plain.pragma('synchronous', { simple: true }), SYNCHRONOUS_NORMAL);
    plain.close();

    const reopened = StateStore.open(file);
    assert.equal(reopened.database.pragma('journal_mode', { simple: true }), 'wal');
    assert.equal(reopened.database.pragma('synchronous', { simple: true }), SYNCHRONOUS_FULL);
    assert.equal(reopened.get('db1')?.position, '0/1');
    reopened.close();
  });

  test('stores one position per source, replacing it on update', () => {
    const store = StateStore.open(newFile());
    assert.equal(store.get('db1'), undefined);
    store.put('db1', '0/16B3748', { slot: 'pgrelay_db1' });
    store.put('db1', '0/16B3800', { slot: 'pgrelay_db1' });
    store.put('db2', '0/7');
    const db1 = store.get('db1');
    assert.equal(db1?.position, '0/16B3800');
    assert.deepEqual(db1?.meta, { slot: 'pgrelay_db1' });
    assert.ok(!Number.isNaN(Date.parse(db1?.updatedAt ?? '')));
    assert.deepEqual(
      store.list().map((p) => `${p.source}=${p.position}`),
      ['db1=0/16B3800', 'db2=0/7'],
    );
    assert.deepEqual(
      store.list('db2').map((p) => p.position),
      ['0/7'],
    );
    assert.equal(store.delete('db2'), 1);
    assert.equal(store.delete('db2'), 0);
    assert.deepEqual(
      store.list().map((p) => p.source),
      ['db1'],
    );
    store.close();
  });

  test('reads and updates a state file written by earlier releases, scope column and all', () => {
    const file = newFile();
    StateStore.open(file).close();
    // As releases before this one wrote a position: with the scope column named, always ''.
    const earlier = new Database(file);
    earlier
      .prepare(
        `INSERT INTO positions (source, scope, position, meta, updated_at) VALUES ('db1', '', '0/10', '{"slot":"s"}', '2026-01-01T00:00:00.000Z')`,
      )
      .run();
    earlier.close();

    const store = StateStore.open(file);
    assert.equal(store.get('db1')?.position, '0/10');
    store.put('db1', '0/20', { slot: 's' });
    assert.deepEqual(
      store.list().map((p) => `${p.source}=${p.position}`),
      ['db1=0/20'],
      'updated in place, not stored twice',
    );
    store.close();
  });

  test('records its schema version and refuses a newer one with a clear error', () => {
    const file = newFile();
    const store = StateStore.open(file);
    assert.equal(store.database.pragma('user_version', { simple: true }), SCHEMA_VERSION);
    store.close();

    const newer = new Database(file);
    newer.pragma(`user_version = ${SCHEMA_VERSION + 1}`);
    newer.close();
    assert.throws(
      () => StateStore.open(file),
      (error) =>
        error instanceof StateError &&
        error.code === 'PGRELAY_STATE' &&
        error.message ===
          `state.path: cannot open ${file}: schema version ${SCHEMA_VERSION + 1} is newer than this pgrelay understands (${SCHEMA_VERSION}); it was written by a newer release`,
    );
  });

  test('a missing directory is an error naming state.path', () => {
    const missing = path.join(dir, 'nope', 'state.db');
    assert.throws(() => StateStore.open(missing), {
      name: 'StateError',
      message: `state.path: directory ${path.join(dir, 'nope')} does not exist (create it, or point state.path elsewhere)`,
    });
    assert.equal(fs.existsSync(path.join(dir, 'nope')), false, 'nothing is created behind the operator');
  });

  test('a file that is not a database is an error naming state.path', () => {
    const file = newFile();
    fs.writeFileSync(file, 'not a database, just text that is long enough to have a header page'.repeat(20));
    assert.throws(
      () => StateStore.open(file),
      (error) => {
        assert.ok(error instanceof StateError);
        assert.match(error.message, new RegExp(`^state\\.path: cannot open ${file}: file is not a database`));
        return true;
      },
    );
  });

  test('a write that fails is a named, retriable failure, heard of once and cleared by the next write', () => {
    const file = newFile();
    const store = StateStore.open(file);
    const heard: (string | undefined)[] = [];
    store.watch((failure) => heard.push(failure?.code));
    store.put('db1', '0/1');
    // A write SQLite refuses, as it refuses one on a full disk (the integration test fills one).
    store.database.pragma('query_only = ON');
    for (const position of ['0/2', '0/3', '0/4']) {
      assert.throws(
        () => store.put('db1', position),
        (error) =>
          error instanceof StateWriteError &&
          error.code === 'PGRELAY_STATE_WRITE' &&
          error.retriable &&
          error.message ===
            `state.path ${file}: cannot write: attempt to write a readonly database (SQLITE_READONLY); ` +
              'positions are not stored, nor confirmed to PostgreSQL, until a write succeeds',
      );
    }
    assert.equal(store.failedWrites, 3, 'each attempt counts');
    assert.equal(store.failure?.code, 'PGRELAY_STATE_WRITE');
    assert.deepEqual(heard, ['PGRELAY_STATE_WRITE'], 'heard of once, not per attempt');
    assert.equal(store.get('db1')?.position, '0/1', 'what was stored stays');

    store.database.pragma('query_only = OFF');
    store.put('db1', '0/5');
    assert.equal(store.failure, undefined);
    assert.deepEqual(heard, ['PGRELAY_STATE_WRITE', undefined], 'and once more when a write succeeds');
    assert.equal(store.get('db1')?.position, '0/5');

    // A listener that stopped watching (a source a reload replaced) hears nothing more.
    const replaced: (string | undefined)[] = [];
    const unwatch = store.watch((failure) => replaced.push(failure?.code));
    unwatch();
    store.database.pragma('query_only = ON');
    assert.throws(() => store.put('db1', '0/6'), StateWriteError);
    assert.deepEqual(replaced, []);
    assert.deepEqual(heard, ['PGRELAY_STATE_WRITE', undefined, 'PGRELAY_STATE_WRITE']);
    store.database.pragma('query_only = OFF');
    store.close();
  });

  test('a state file deleted or replaced while open is noticed, and nothing more is written', () => {
    for (const [what, change] of [
      ['was deleted', (file: string) => fs.rmSync(file)],
      [
        'was replaced by another file',
        (file: string) => {
          fs.copyFileSync(file, `${file}.copy`);
          fs.renameSync(`${file}.copy`, file);
        },
      ],
    ] as const) {
      const file = newFile();
      const store = StateStore.open(file);
      const heard: (StateFailure | undefined)[] = [];
      store.watch((failure) => heard.push(failure));
      store.put('db1', '0/1');
      store.verify();
      change(file);
      const gone = (error: unknown) =>
        error instanceof StateFileGoneError &&
        error.code === 'PGRELAY_STATE_FILE_GONE' &&
        !error.retriable &&
        error.message.startsWith(
          `state.path ${file} ${what} while pgrelay ran: positions can no longer be stored`,
        );
      assert.throws(() => store.verify(), gone, what);
      assert.throws(() => store.put('db1', '0/2'), gone, `${what}: a write is refused`);
      assert.throws(() => store.delete('db1'), gone, `${what}: so is a delete`);
      assert.equal(store.get('db1')?.position, '0/1', `${what}: the open database was not written`);
      assert.equal(heard.length, 1, `${what}: heard of once`);
      assert.ok(gone(heard[0]));
      store.close();
    }
  });
});
