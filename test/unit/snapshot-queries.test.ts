import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { EventFactory } from '../../src/sources/postgres/schema/events.js';
import { Table, type TableDefinition } from '../../src/sources/postgres/schema/table.js';
import { TypeRegistry } from '../../src/sources/postgres/schema/values.js';
import {
  ChunkConverter,
  type ReadPlan,
  ctidChunk,
  estimateQuery,
  keysetChunk,
} from '../../src/sources/postgres/snapshot/chunks.js';

const types = new TypeRegistry();

/** A plan for public."Orders"(id int4, paid bool, at timestamptz), keyed by id unless told otherwise. */
const shape = (
  overrides: Partial<Pick<ReadPlan, 'cursorColumns' | 'filters'>> & Partial<TableDefinition> = {},
): ReadPlan => {
  const { cursorColumns = ['id'], filters = [], ...definition } = overrides;
  return {
    table: new Table(
      {
        schema: 'public',
        table: 'Orders',
        columns: [
          { name: 'id', typeOid: 23 },
          { name: 'paid', typeOid: 16 },
          { name: 'at', typeOid: 1184 },
        ],
        identity: 'd',
        identityColumns: ['id'],
        primaryKey: ['id'],
        ...definition,
      },
      types,
    ),
    cursorColumns,
    filters,
    rowsPerPage: null,
  };
};

describe('snapshot chunk queries', () => {
  test('keyset pages: key order, LIMIT, and after the first page the key comparison', () => {
    assert.deepEqual(keysetChunk(shape(), null, 500), {
      text: 'SELECT "id", "paid", "at", "id" FROM "public"."Orders" ORDER BY "id" LIMIT 500',
      values: [],
    });
    assert.deepEqual(keysetChunk(shape(), ['41'], 500), {
      text: 'SELECT "id", "paid", "at", "id" FROM "public"."Orders" WHERE ("id" > $1) ORDER BY "id" LIMIT 500',
      values: ['41'],
    });
  });

  test('a composite key compares as a row, in index order; filters are ANDed in parentheses', () => {
    const query = keysetChunk(
      shape({ cursorColumns: ['tenant', 'id'], filters: ['(id > 10)', 'paid OR id = 1'] }),
      ['7', '99'],
      10,
    );
    assert.equal(
      query.text,
      'SELECT "id", "paid", "at", "tenant", "id" FROM "public"."Orders" WHERE ((id > 10)) AND (paid OR id = 1) ' +
        'AND (("tenant", "id") > ($1, $2)) ORDER BY "tenant", "id" LIMIT 10',
    );
    assert.deepEqual(query.values, ['7', '99']);
  });

  test('tables without a key are read in heap block ranges, the last one open-ended', () => {
    const keyless = shape({ cursorColumns: [], identityColumns: [], primaryKey: [], filters: ['paid'] });
    assert.deepEqual(ctidChunk(keyless, 0, 128), {
      text: 'SELECT "id", "paid", "at", ctid FROM "public"."Orders" WHERE (paid) AND (ctid >= $1::tid) AND (ctid < $2::tid)',
      values: ['(0,0)', '(128,0)'],
    });
    assert.deepEqual(ctidChunk(keyless, 128, undefined).values, ['(128,0)']);
  });

  test('the estimate asks the planner about the rows the filters leave', () => {
    assert.equal(
      estimateQuery(shape({ filters: ['id > 1000'] })),
      'EXPLAIN (FORMAT JSON) SELECT 1 FROM "public"."Orders" WHERE (id > 1000)',
    );
  });
});

describe('ChunkConverter', () => {
  const events = new EventFactory('db1', 'h', 'd');
  const origin = { lsnText: '0/16B3748', xid: null, commitTime: '2026-11-20T09:00:00.123000Z' };
  const idPrefix = 'snapshot:0/16B3748:public.Orders:';
  const converter = (plan: ReadPlan) => new ChunkConverter(plan, events, idPrefix);

  test('maps output-function text as the stream does; key and id from the key columns', () => {
    const orders = converter(shape());
    const { events: rows, bytes } = orders.convert(
      [
        ['42', 't', '2026-11-21 18:12:05.9+00', '42'],
        ['43', null, null, '43'],
      ],
      origin,
    );
    assert.ok(bytes > 0);
    assert.deepEqual(rows[0], {
      id: 'snapshot:0/16B3748:public.Orders:["42"]',
      source: 'db1',
      host: 'h',
      database: 'd',
      schema: 'public',
      table: 'Orders',
      action: 'snapshot',
      lsn: '0/16B3748',
      xid: null,
      commit_time: '2026-11-20T09:00:00.123000Z',
      key: { id: 42 },
      columns: { id: 42, paid: true, at: '2026-11-21T18:12:05.900000Z' },
      old: null,
      unchanged_toast: [],
    });
    assert.deepEqual(rows[1]!.columns, { id: 43, paid: null, at: null });
    assert.deepEqual(orders.cursorOf(['43', null, null, '43']), ['43']);
  });

  test('the event key follows the stream order; a table without a key has key null and a ctid id', () => {
    // Primary key (paid, id) in index order: the event key names its columns in table order.
    const composite = converter(
      shape({ cursorColumns: ['paid', 'id'], identityColumns: ['paid', 'id'], primaryKey: ['paid', 'id'] }),
    ).convert([['1', 'f', null, 'f', '1']], origin).events[0]!;
    assert.equal(JSON.stringify(composite.key), '{"id":1,"paid":false}');
    assert.equal(composite.id, `${idPrefix}["f","1"]`);
    // REPLICA IDENTITY FULL: the key is the primary key, in index order, as the stream names it.
    const full = converter(
      shape({
        cursorColumns: ['paid', 'id'],
        identity: 'f',
        identityColumns: ['id', 'paid', 'at'],
        primaryKey: ['paid', 'id'],
      }),
    ).convert([['1', 'f', null, 'f', '1']], origin).events[0]!;
    assert.equal(JSON.stringify(full.key), '{"paid":false,"id":1}');
    const keyless = converter(shape({ cursorColumns: [], identityColumns: [], primaryKey: [] })).convert(
      [['1', 't', null, '(3,7)']],
      origin,
    ).events[0]!;
    assert.equal(keyless.key, null);
    assert.equal(keyless.id, `${idPrefix}(3,7)`);
  });
});
