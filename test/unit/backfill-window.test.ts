import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { ChunkWindow, EVERY_KEY, XidSnapshot } from '../../src/sources/postgres/backfill/window.js';

describe('XidSnapshot', () => {
  test('sees transactions before xmin and finished ones below xmax, not running or later ones', () => {
    const snapshot = XidSnapshot.parse('100:110:103,105');
    for (const xid of [1, 99, 100, 104, 109]) assert.equal(snapshot.sees(xid), true, `xid ${xid}`);
    for (const xid of [103, 105, 110, 111, 5000]) assert.equal(snapshot.sees(xid), false, `xid ${xid}`);
    assert.equal(XidSnapshot.parse('7:7:').sees(7), false);
  });

  test('compares 64-bit snapshot xids with 32-bit stream xids across wraparound', () => {
    const epoch = 1n << 32n;
    const snapshot = XidSnapshot.parse(`${epoch + 4294967290n}:${2n * epoch + 5n}:${2n * epoch + 2n}`);
    assert.equal(snapshot.sees(4294967280), true, 'before xmin, in the old epoch');
    assert.equal(snapshot.sees(4294967295), true, 'between xmin and xmax, finished');
    assert.equal(snapshot.sees(1), true, 'after the wrap, finished');
    assert.equal(snapshot.sees(2), false, 'running');
    assert.equal(snapshot.sees(5), false, 'at xmax');
  });

  test('refuses text that is not a snapshot', () => {
    assert.throws(() => XidSnapshot.parse('12:x:'), /is not a transaction snapshot/);
  });
});

describe('ChunkWindow', () => {
  const seesUpTo = (xmax: number) => XidSnapshot.parse(`${xmax}:${xmax}:`);

  test('drops keys changed between the watermarks, keeps keys changed before the low one by seen transactions', () => {
    const window = new ChunkWindow();
    window.record(10, 'a');
    window.openWindow();
    window.record(11, 'b');
    assert.deepEqual([...window.close(seesUpTo(100))], ['b']);
    assert.equal(window.open, false);
  });

  test('drops keys changed before the low watermark by a transaction the read did not see', () => {
    const window = new ChunkWindow();
    window.record(20, 'committed-in-wal-not-yet-visible');
    window.record(19, 'seen');
    window.openWindow();
    assert.deepEqual([...window.close(XidSnapshot.parse('19:21:20'))], ['committed-in-wal-not-yet-visible']);
  });

  test('forgets a change once a chunk saw its transaction, keeps it until then', () => {
    const window = new ChunkWindow();
    window.record(30, 'late');
    window.openWindow();
    assert.deepEqual([...window.close(XidSnapshot.parse('25:31:30'))], ['late']);
    window.openWindow();
    assert.deepEqual([...window.close(XidSnapshot.parse('25:31:30'))], ['late'], 'still invisible');
    window.openWindow();
    assert.deepEqual([...window.close(seesUpTo(40))], [], 'seen now: gone');
  });

  test('a truncate in the window stands for every key; an abandoned window drops nothing by itself', () => {
    const window = new ChunkWindow();
    window.openWindow();
    window.record(50, EVERY_KEY);
    assert.ok(window.close(seesUpTo(60)).has(EVERY_KEY));
    window.openWindow();
    window.record(61, 'x');
    window.abandon();
    assert.equal(window.open, false);
    assert.deepEqual([...window.close(seesUpTo(70))], []);
  });
});
