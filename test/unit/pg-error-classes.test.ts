import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import pg from 'pg';
import { PgRelayError } from '../../src/core/errors.js';
import { classifyServerError } from '../../src/sources/postgres/errors.js';
import { PgoutputError, decodePgoutput } from '../../src/sources/postgres/protocol/pgoutput.js';
import { ValueError, parseArray } from '../../src/sources/postgres/schema/values.js';
import { StreamProtocolError } from '../../src/sources/postgres/stream.js';

function serverError(code: string, message: string): pg.DatabaseError {
  const error = new pg.DatabaseError(message, message.length, 'error');
  error.code = code;
  return error;
}

function classified(error: unknown): { code: string; retriable: boolean } {
  const result = classifyServerError('db1', error);
  return { code: result.code, retriable: result.retriable };
}

/** Every failure of a PostgreSQL source is named, and retried only when a retry can help. */
describe('PostgreSQL source errors: retried or failed by what they are', () => {
  test('lost and refused connections, shutdowns and a slot still held are retried', () => {
    const retried = [
      Object.assign(new Error('connect ECONNREFUSED 127.0.0.1:5432'), { code: 'ECONNREFUSED' }),
      new Error('Connection terminated unexpectedly'),
      new Error('Connection terminated due to connection timeout'),
      serverError('57P01', 'terminating connection due to administrator command'),
      serverError('53300', 'too many connections for role "pgrelay"'),
      serverError('55006', 'replication slot "pgrelay_db1" is active for PID 4242'),
    ];
    for (const error of retried)
      assert.deepEqual(classified(error), { code: 'PGRELAY_PG_UNAVAILABLE', retriable: true }, error.message);
  });

  test('what an operator must fix fails, named', () => {
    assert.deepEqual(classified(serverError('42501', 'permission denied for table t')), {
      code: 'PGRELAY_PG_PERMISSION',
      retriable: false,
    });
    assert.deepEqual(classified(serverError('28P01', 'password authentication failed for user "x"')), {
      code: 'PGRELAY_PG_PERMISSION',
      retriable: false,
    });
    assert.deepEqual(classified(serverError('3D000', 'database "nope" does not exist')), {
      code: 'PGRELAY_PG_DATABASE_MISSING',
      retriable: false,
    });
    assert.deepEqual(classified(serverError('42P01', 'relation "gone" does not exist')), {
      code: 'PGRELAY_PG_SERVER',
      retriable: false,
    });
    assert.deepEqual(classified(new Error('The server does not support SSL connections')), {
      code: 'PGRELAY_PG_TLS',
      retriable: false,
    });
    assert.deepEqual(
      classified(
        Object.assign(new Error('self-signed certificate'), { code: 'DEPTH_ZERO_SELF_SIGNED_CERT' }),
      ),
      {
        code: 'PGRELAY_PG_TLS',
        retriable: false,
      },
    );
  });

  test('undecodable input and bugs fail at once instead of retrying forever', () => {
    const undecodable = (() => {
      try {
        decodePgoutput(Buffer.from([0x5a]));
      } catch (error) {
        return error;
      }
    })();
    assert.ok(undecodable instanceof PgoutputError);
    assert.deepEqual(classified(undecodable), { code: 'PGRELAY_PG_UNDECODABLE', retriable: false });

    const malformed = (() => {
      try {
        parseArray('{1,2', (t) => t);
      } catch (error) {
        return error;
      }
    })();
    assert.ok(malformed instanceof ValueError);
    assert.deepEqual(classified(malformed), { code: 'PGRELAY_PG_VALUE', retriable: false });

    assert.deepEqual(
      classified(new StreamProtocolError('change for relation 16385 before its relation message')),
      {
        code: 'PGRELAY_PG_PROTOCOL',
        retriable: false,
      },
    );
    const bug = classifyServerError(
      'db1',
      new TypeError("Cannot read properties of undefined (reading 'key')"),
    );
    assert.ok(bug instanceof PgRelayError);
    assert.deepEqual(
      { code: bug.code, retriable: bug.retriable },
      { code: 'PGRELAY_INTERNAL', retriable: false },
    );
    assert.match(bug.message, /source db1: unexpected error: Cannot read properties of undefined/);
  });

  test('a publication the slot cannot see fails, named, with the way out', () => {
    const error = serverError('42704', 'publication "pgrelay_db1" does not exist');
    error.where =
      'slot "pgrelay_db1", output plugin "pgoutput", in the change callback, associated LSN 0/1925318';
    const result = classifyServerError('db1', error, 'pgrelay_db1');
    assert.deepEqual(
      { code: result.code, retriable: result.retriable },
      { code: 'PGRELAY_PG_PUBLICATION_DROPPED', retriable: false },
    );
    assert.match(
      result.message,
      /^source db1: replication slot "pgrelay_db1" cannot decode the change at 0\/1925318: publication "pgrelay_db1" did not exist when it was made/,
    );
    assert.match(
      result.message,
      /SELECT pg_replication_slot_advance\('pgrelay_db1', pg_current_wal_lsn\(\)\)/,
    );
    assert.match(result.message, /pgrelay reset-position -c CONFIG --source db1/);
    assert.match(result.message, /pgrelay backfill/);

    const other = serverError('42704', 'type "nope" does not exist');
    assert.equal(classifyServerError('db1', other, 'pgrelay_db1').code, 'PGRELAY_PG_SERVER');
  });
});
