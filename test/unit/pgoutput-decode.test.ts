import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import {
  type PgoutputMessage,
  PgoutputError,
  UNCHANGED_TOAST,
  decodePgoutput,
  pgTime,
} from '../../src/sources/postgres/protocol/pgoutput.js';
import { PGOUTPUT } from '../fixtures/pgoutput.js';

const ITEMS = 0x4009;
const AUDIT = 0x4011;

function decode(hex: string): PgoutputMessage {
  return decodePgoutput(Buffer.from(hex, 'hex'));
}

function undecodable(hex: string, reason: RegExp): void {
  assert.throws(
    () => decode(hex),
    (error: unknown) => {
      assert.ok(error instanceof PgoutputError, `expected PgoutputError, got ${String(error)}`);
      assert.match(error.message, reason);
      return true;
    },
    hex,
  );
}

describe('pgoutput decoding (protocol 1, bytes captured from PostgreSQL 15)', () => {
  const { insertTransaction, originTransaction } = PGOUTPUT;

  it('Begin: the transaction’s final LSN, commit time and xid', () => {
    assert.deepEqual(decode(insertTransaction.begin), {
      tag: 'begin',
      finalLsn: 0x192d878n,
      commitTimeMicros: 0x304750a064884n,
      xid: 731,
    });
  });

  it('Commit: the LSNs of the commit and of its end, and the commit time its Begin announced', () => {
    const begin = decode(insertTransaction.begin);
    const commit = decode(insertTransaction.commit);
    assert.deepEqual(commit, {
      tag: 'commit',
      commitLsn: 0x192d878n,
      endLsn: 0x192d8a8n,
      commitTimeMicros: 0x304750a064884n,
    });
    assert.ok(begin.tag === 'begin' && commit.tag === 'commit');
    assert.equal(commit.commitLsn, begin.finalLsn);
    assert.equal(commit.commitTimeMicros, begin.commitTimeMicros);
  });

  it('Relation: columns with their types, type modifiers and which belong to the key', () => {
    assert.deepEqual(decode(insertTransaction.relation), {
      tag: 'relation',
      relation: {
        id: ITEMS,
        schema: 'public',
        table: 'items',
        replicaIdentity: 'd',
        columns: [
          { name: 'id', typeOid: 23, typeMod: -1, isIdentity: true },
          { name: 'name', typeOid: 25, typeMod: -1, isIdentity: false },
          { name: 'note', typeOid: 25, typeMod: -1, isIdentity: false },
          { name: 'feeling', typeOid: 0x4002, typeMod: -1, isIdentity: false },
        ],
      },
    });
  });

  it('Relation under REPLICA IDENTITY FULL: every column belongs to the identity', () => {
    assert.deepEqual(decode(PGOUTPUT.relationFull), {
      tag: 'relation',
      relation: {
        id: AUDIT,
        schema: 'public',
        table: 'audit',
        replicaIdentity: 'f',
        columns: [
          { name: 'id', typeOid: 20, typeMod: -1, isIdentity: true },
          { name: 'item', typeOid: 23, typeMod: -1, isIdentity: true },
          { name: 'body', typeOid: 25, typeMod: -1, isIdentity: true },
        ],
      },
    });
  });

  it('Type: the oid, schema and name of a type that is not built in', () => {
    assert.deepEqual(decode(insertTransaction.type), {
      tag: 'type',
      typeOid: 0x4002,
      schema: 'public',
      name: 'mood',
    });
  });

  it('Origin: the upstream LSN and origin name of a replicated transaction, whose commit time is the upstream one', () => {
    assert.deepEqual(decode(originTransaction.origin), {
      tag: 'origin',
      originLsn: 0x1a2b3c4dn,
      name: 'upstream',
    });
    const begin = decode(originTransaction.begin);
    assert.ok(begin.tag === 'begin');
    assert.equal(pgTime(begin.commitTimeMicros).iso, '2024-01-02T03:04:05.123456Z');
    assert.deepEqual(decode(originTransaction.insert), {
      tag: 'insert',
      relationId: ITEMS,
      newTuple: ['10', 'from upstream', null, null],
    });
  });

  it('Insert: the new row as text, NULL apart from text', () => {
    assert.deepEqual(decode(insertTransaction.insert), {
      tag: 'insert',
      relationId: ITEMS,
      newTuple: ['1', 'ann', null, 'happy'],
    });
  });

  it('Update without an old tuple (the key did not change, default replica identity)', () => {
    assert.deepEqual(decode(PGOUTPUT.updateNewOnly), {
      tag: 'update',
      relationId: ITEMS,
      oldKind: null,
      oldTuple: null,
      newTuple: ['1', 'ann b', null, 'happy'],
    });
  });

  it('Update keeping an unchanged TOAST column apart from NULL', () => {
    assert.deepEqual(decode(PGOUTPUT.updateUnchangedToast), {
      tag: 'update',
      relationId: ITEMS,
      oldKind: null,
      oldTuple: null,
      newTuple: ['2', 'bob b', UNCHANGED_TOAST, 'ok'],
    });
  });

  it('Update with the old key (K) when the key changed', () => {
    assert.deepEqual(decode(PGOUTPUT.updateOldKey), {
      tag: 'update',
      relationId: ITEMS,
      oldKind: 'key',
      oldTuple: ['1', null, null, null],
      newTuple: ['3', 'ann b', null, 'happy'],
    });
  });

  it('Update with the whole old row (O) under REPLICA IDENTITY FULL', () => {
    assert.deepEqual(decode(PGOUTPUT.updateOldRow), {
      tag: 'update',
      relationId: AUDIT,
      oldKind: 'old',
      oldTuple: ['1', '2', 'created'],
      newTuple: ['1', '2', 'checked'],
    });
  });

  it('Delete with the old key (K)', () => {
    assert.deepEqual(decode(PGOUTPUT.deleteOldKey), {
      tag: 'delete',
      relationId: ITEMS,
      oldKind: 'key',
      oldTuple: ['3', null, null, null],
    });
  });

  it('Delete with the whole old row (O) under REPLICA IDENTITY FULL', () => {
    assert.deepEqual(decode(PGOUTPUT.deleteOldRow), {
      tag: 'delete',
      relationId: AUDIT,
      oldKind: 'old',
      oldTuple: ['1', '2', 'checked'],
    });
  });

  it('Truncate: every relation, with CASCADE and RESTART IDENTITY when given, else without', () => {
    assert.deepEqual(decode(PGOUTPUT.truncateWithOptions), {
      tag: 'truncate',
      relationIds: [ITEMS, AUDIT],
      cascade: true,
      restartIdentity: true,
    });
    assert.deepEqual(decode(PGOUTPUT.truncatePlain), {
      tag: 'truncate',
      relationIds: [AUDIT],
      cascade: false,
      restartIdentity: false,
    });
  });

  it('Message emitted inside a transaction: transactional, with its LSN, prefix and bytes', () => {
    assert.deepEqual(decode(PGOUTPUT.messageTransactional), {
      tag: 'message',
      transactional: true,
      lsn: 0x1938f78n,
      prefix: 'pgrelay-test',
      content: Buffer.from('in a transaction'),
    });
  });

  it('Message emitted outside a transaction: not transactional', () => {
    assert.deepEqual(decode(PGOUTPUT.messageNonTransactional), {
      tag: 'message',
      transactional: false,
      lsn: 0x1938ff0n,
      prefix: 'pgrelay-test',
      content: Buffer.from('outside'),
    });
  });

  it('keeps no reference to the buffer it read (the socket reuses it)', () => {
    const buffer = Buffer.from(PGOUTPUT.messageTransactional, 'hex');
    const message = decodePgoutput(buffer);
    buffer.fill(0);
    assert.ok(message.tag === 'message');
    assert.equal(message.prefix, 'pgrelay-test');
    assert.equal(message.content.toString(), 'in a transaction');
  });

  it("reads a message where it starts in a larger buffer (after XLogData's header)", () => {
    const header = Buffer.alloc(25, 0x77);
    for (const hex of [insertTransaction.insert, PGOUTPUT.updateOldRow, PGOUTPUT.messageTransactional]) {
      assert.deepEqual(decodePgoutput(Buffer.concat([header, Buffer.from(hex, 'hex')]), 25), decode(hex));
    }
    // Cut short: the offsets named are the message's own.
    const insert = Buffer.from(insertTransaction.insert, 'hex');
    assert.throws(
      () => decodePgoutput(Buffer.concat([header, insert.subarray(0, 7)]), 25),
      /message truncated: needed 2 bytes at offset 6 of 7/,
    );
  });

  describe('malformed input is a PgoutputError saying what is wrong', () => {
    const messages: string[] = [
      ...Object.values(insertTransaction),
      ...Object.values(originTransaction),
      PGOUTPUT.updateNewOnly,
      PGOUTPUT.updateUnchangedToast,
      PGOUTPUT.updateOldKey,
      PGOUTPUT.updateOldRow,
      PGOUTPUT.deleteOldKey,
      PGOUTPUT.deleteOldRow,
      PGOUTPUT.relationFull,
      PGOUTPUT.truncateWithOptions,
      PGOUTPUT.truncatePlain,
      PGOUTPUT.messageTransactional,
      PGOUTPUT.messageNonTransactional,
    ];

    it('a message cut short anywhere, the empty one included', () => {
      for (const hex of messages) {
        for (let bytes = 0; bytes < hex.length / 2; bytes++) {
          undecodable(
            hex.slice(0, bytes * 2),
            /message truncated: needed \d+ bytes at offset \d+ of \d+|unterminated string/,
          );
        }
      }
    });

    it('an unknown message type, such as a protocol 2 Stream Start', () => {
      undecodable('53000002db01', /unknown pgoutput message type "S" \(0x53\)/);
      undecodable('00', /unknown pgoutput message type "\\u0000" \(0x0\)/);
    });

    it('a tuple column of an unknown kind, such as binary (b), which we never ask for', () => {
      // The Insert of row 1 with its first column's kind "t" replaced.
      const insert = insertTransaction.insert;
      for (const kind of ['62', '78']) {
        const hex = insert.slice(0, 16) + kind + insert.slice(18);
        undecodable(hex, new RegExp(`tuple column 0: unknown kind 0x${kind}`));
      }
    });

    it('a tuple marker that does not belong to the message', () => {
      const swap = (hex: string, at: number, marker: string) => hex.slice(0, at) + marker + hex.slice(at + 2);
      undecodable(swap(insertTransaction.insert, 10, '4b'), /expected 0x4e, got 0x4b/);
      undecodable(swap(PGOUTPUT.updateNewOnly, 10, '44'), /update: expected new tuple marker N, got 0x44/);
      // After the tag, relation id and old key tuple (17 bytes) comes the N of the new tuple.
      undecodable(swap(PGOUTPUT.updateOldKey, 34, '4f'), /update: expected new tuple marker N, got 0x4f/);
      undecodable(swap(PGOUTPUT.deleteOldKey, 10, '4e'), /delete: expected K or O, got 0x4e/);
    });

    it('a value longer than the message', () => {
      // The Insert of row 1 with the length of its first value (1) raised to 2^31.
      const insert = insertTransaction.insert;
      undecodable(
        insert.slice(0, 18) + '80000000' + insert.slice(26),
        /message truncated: needed 2147483648 bytes/,
      );
    });
  });
});
