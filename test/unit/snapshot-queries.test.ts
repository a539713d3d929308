import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import {
  RowConverter,
  type TableShape,
  ctidChunk,
  estimateQuery,
  keysetChunk,
} from '../../src/sources/postgres/snapshot/table.js';
import { TypeRegistry } from '../../src/sources/postgres/schema/values.js';

const shape = (overrides: Partial<TableShape> = {}): TableShape => ({
  schema: 'public',
  table: 'Orders',
  columns: [
    { name: 'id', typeOid: 23 },
    { name: 'paid', typeOid: 16 },
    { name: 'at', typeOid: 1184 },
  ],
  keyColumns: ['id'],
  eventKey: ['id'],
  filters: [],
  rowsPerPage: null,
  ...overrides,
});

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
      shape({ keyColumns: ['tenant', 'id'], filters: ['(id > 10)', 'paid OR id = 1'] }),
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
    const keyless = shape({ keyColumns: [], eventKey: [], filters: ['paid'] });
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

describe('RowConverter', () => {
  const types = new TypeRegistry();
  const base = {
    source: 'db1',
    host: 'h',
    database: 'd',
    lsn: '0/16B3748',
    commitTime: '2026-11-20T09:00:00.123000Z',
    idPrefix: 'snapshot:0/16B3748:public.Orders:',
  };

  test('maps output-function text as the stream does; key and id from the key columns', () => {
    const converter = new RowConverter(shape(), types);
    const { events, bytes } = converter.convert(
      [
        ['42', 't', '2026-11-21 18:12:05.9+00', '42'],
        ['43', null, null, '43'],
      ],
      base,
    );
    assert.ok(bytes > 0);
    assert.deepEqual(events[0], {
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
    assert.deepEqual(events[1]!.columns, { id: 43, paid: null, at: null });
    assert.deepEqual(converter.cursorOf(['43', null, null, '43']), ['43']);
  });

  test('the event key follows the stream order; a table without a key has key null and a ctid id', () => {
    const composite = new RowConverter(
      shape({ keyColumns: ['paid', 'id'], eventKey: ['id', 'paid'] }),
      types,
    ).convert([['1', 'f', null, 'f', '1']], base).events[0]!;
    assert.equal(JSON.stringify(composite.key), '{"id":1,"paid":false}');
    assert.equal(composite.id, `${base.idPrefix}["f","1"]`);
    const keyless = new RowConverter(shape({ keyColumns: [], eventKey: [] }), types).convert(
      [['1', 't', null, '(3,7)']],
      base,
    ).events[0]!;
    assert.equal(keyless.key, null);
    assert.equal(keyless.id, `${base.idPrefix}(3,7)`);
  });
});
