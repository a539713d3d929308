import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { type CdcFixture, cdcFixture, kafkaSink, parseEvents, postgresSource } from '../harness/cdc.js';
import { readAtLeast } from '../harness/kcat.js';
import { PgrelayProcess } from '../harness/pgrelay.js';

/** Every action and the value mapping of README "Value mapping", end to end through Kafka. */
describe('PostgreSQL → Kafka: actions and value mapping', () => {
  let fx: CdcFixture;
  let relay: PgrelayProcess;
  let topic: string;

  before(async () => {
    fx = await cdcFixture('values');
    topic = fx.topic('types');
    await fx.sql(`
      CREATE TYPE mood AS ENUM ('happy', 'sad');
      CREATE DOMAIN positive AS bigint CHECK (VALUE > 0);
      CREATE TABLE all_types (
        id bigserial PRIMARY KEY,
        i2 smallint, i4 integer, i8 bigint, num numeric(40,10), num_nan numeric, f4 real, f8 double precision,
        f8_inf double precision, b boolean, t text, vc varchar(10), ch char(3), j json, jb jsonb,
        ts timestamp, tstz timestamptz, tstz_inf timestamptz, d date, tm time, iv interval, ba bytea, u uuid,
        arr_i integer[], arr_t text[], arr_2d integer[][], arr_ts timestamptz[], arr_jb jsonb[], arr_n numeric[],
        m mood, dom positive, addr inet, cash money
      );`);
    relay = await PgrelayProcess.create(
      postgresSource('db', fx, ['public.all_types']) +
        kafkaSink('out', fx, ['db'], `topic_map = { "public.all_types" = "${topic}" }`),
    );
    await relay.start();
  });

  after(async () => {
    await relay?.destroy();
  });

  test('insert, update, delete and truncate arrive in commit order with exact values', async () => {
    // PostgreSQL's clock around the insert's transaction: its commit time falls between.
    const clock = async () =>
      (
        await fx.sql(
          `SELECT to_char(clock_timestamp() AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"') AS now`,
        )
      )[0]!.now as string;
    const beforeInsert = await clock();
    await fx.sql(`INSERT INTO all_types (i2, i4, i8, num, num_nan, f4, f8, f8_inf, b, t, vc, ch, j, jb, ts, tstz, tstz_inf,
        d, tm, iv, ba, u, arr_i, arr_t, arr_2d, arr_ts, arr_jb, arr_n, m, dom, addr, cash) VALUES (
        -32768, 2147483647, 9007199254740993, 123456789012345678901234567890.0123456789, 'NaN', 1.5, 0.1,
        '-Infinity', true, 'héllo "wörld"', 'short', 'ab', '{"a": [1, 2]}',
        '{"big": 12345678901234567890, "dec": 0.1000000000000000055511151231257827, "s": "x", "n": null}',
        '2024-02-29 12:34:56.000001', '2024-02-29 12:34:56.123+02', 'infinity', '2024-02-29', '23:59:59.5',
        '1 day 2 hours', '\\xdeadbeef', 'a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11', '{1,NULL,3}',
        '{"a b","c,d",NULL,"e\\"f","NULL"}', '{{1,2},{3,4}}', '{"2024-01-01 00:00:00+00"}', ARRAY['{"k": 1}'::jsonb],
        '{1.10,2}', 'happy', 42, '192.168.0.1/24', 12.34)`);
    const afterInsert = await clock();
    await fx.sql(`UPDATE all_types SET t = 'changed', b = NULL, cash = -1234567.89 WHERE id = 1`);
    await fx.sql(`DELETE FROM all_types WHERE id = 1`);
    await fx.sql(`TRUNCATE all_types`);

    const messages = await readAtLeast(fx.brokers, topic, 4);
    assert.equal(messages.length, 4);
    const [insert, update, remove, truncate] = parseEvents(messages);
    assert.deepEqual(
      [insert, update, remove, truncate].map((e) => e!.action),
      ['insert', 'update', 'delete', 'truncate'],
    );

    const c = insert!.columns!;
    assert.equal(c.id, '1');
    assert.equal(c.i2, -32768);
    assert.equal(c.i4, 2147483647);
    assert.equal(c.i8, '9007199254740993', 'int8 as a string keeps every digit');
    assert.equal(c.num, '123456789012345678901234567890.0123456789');
    assert.equal(c.num_nan, 'NaN');
    assert.equal(c.f4, 1.5);
    assert.equal(c.f8, 0.1);
    assert.equal(c.f8_inf, '-Infinity');
    assert.equal(c.b, true);
    assert.equal(c.t, 'héllo "wörld"');
    assert.equal(c.vc, 'short');
    assert.equal(c.ch, 'ab ');
    assert.deepEqual(c.j, { a: [1, 2] });
    // Parsed with JSON.parse here, so the raw message text is what shows the digits pgrelay wrote.
    assert.deepEqual(Object.keys(c.jb as object).sort(), ['big', 'dec', 'n', 's']);
    assert.match(
      messages[0]!.value!,
      /"big":12345678901234567890[,}]/,
      'jsonb numbers beyond a double keep their digits',
    );
    assert.match(messages[0]!.value!, /"dec":0\.1000000000000000055511151231257827[,}]/);
    assert.equal(c.ts, '2024-02-29T12:34:56.000001');
    assert.equal(c.tstz, '2024-02-29T10:34:56.123000Z', 'timestamptz in UTC with microseconds');
    assert.equal(c.tstz_inf, 'infinity');
    assert.equal(c.d, '2024-02-29');
    assert.equal(c.tm, '23:59:59.5');
    assert.equal(c.iv, 'P1DT2H');
    assert.equal(c.ba, Buffer.from('deadbeef', 'hex').toString('base64'));
    assert.equal(c.u, 'a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11');
    assert.deepEqual(c.arr_i, [1, null, 3]);
    assert.deepEqual(c.arr_t, ['a b', 'c,d', null, 'e"f', 'NULL']);
    assert.deepEqual(c.arr_2d, [
      [1, 2],
      [3, 4],
    ]);
    assert.deepEqual(c.arr_ts, ['2024-01-01T00:00:00.000000Z']);
    assert.deepEqual(c.arr_jb, [{ k: 1 }]);
    assert.deepEqual(c.arr_n, ['1.10', '2']);
    assert.equal(c.m, 'happy');
    assert.equal(c.dom, '42', 'a domain maps as its base type (bigint)');
    assert.equal(c.addr, '192.168.0.1/24');
    assert.equal(c.cash, '12.34', 'money as its plain decimal, not the locale text "$12.34"');

    assert.deepEqual(insert!.key, { id: '1' });
    assert.equal(insert!.old, null);
    assert.deepEqual(insert!.unchanged_toast, []);
    assert.equal(insert!.schema, 'public');
    assert.equal(insert!.table, 'all_types');
    assert.equal(insert!.source, 'db');
    assert.equal(insert!.database, fx.database);
    assert.equal(insert!.host, '127.0.0.1');
    assert.match(insert!.lsn, /^[0-9A-F]+\/[0-9A-F]+$/);
    assert.equal(insert!.id, `${insert!.lsn}:0`);
    assert.match(insert!.commit_time!, /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}Z$/);
    // Same form, so the text compares in time order.
    assert.ok(
      beforeInsert < insert!.commit_time! && insert!.commit_time! < afterInsert,
      `commit time ${insert!.commit_time} between ${beforeInsert} and ${afterInsert}`,
    );
    assert.equal(typeof insert!.xid, 'number');

    assert.equal(update!.columns!.t, 'changed');
    assert.equal(update!.columns!.b, null);
    assert.equal(update!.columns!.i8, '9007199254740993');
    assert.equal(update!.columns!.cash, '-1234567.89', 'not "-$1,234,567.89"');
    assert.deepEqual(update!.key, { id: '1' });
    assert.equal(update!.old, null, 'default replica identity sends no old row when the key is unchanged');
    assert.notEqual(update!.lsn, insert!.lsn);

    assert.equal(remove!.columns, null);
    assert.deepEqual(remove!.key, { id: '1' });
    assert.deepEqual(remove!.old, { id: '1' });

    assert.equal(truncate!.table, 'all_types');
    assert.equal(truncate!.key, null);
    assert.equal(truncate!.columns, null);

    assert.equal(messages[0]!.key, '{"id":"1"}', 'message key is the event key as JSON');
    assert.equal(messages[0]!.headers['pgrelay-id'], insert!.id);
    assert.equal(messages[0]!.headers['pgrelay-lsn'], insert!.lsn);
    assert.equal(messages[0]!.headers['pgrelay-source'], 'db');
    assert.equal(new Set(messages.map((m) => m.partition)).size, 1);
  });

  test('json values arrive exactly as PostgreSQL stored them: duplicate keys, order and spacing', async () => {
    const written = '{"a": 1, "a": 2,  "z":[3 ,4], "big": 12345678901234567890}';
    await fx.sql(`INSERT INTO all_types (j, jb) VALUES ($1::json, $1::text::jsonb)`, [written]);
    const messages = await readAtLeast(fx.brokers, topic, 5);
    const raw = messages[4]!.value!;
    assert.ok(raw.includes(`"j":${written}`), `the json column verbatim in ${raw}`);
    // jsonb is stored normalised: one "a", keys sorted, numbers kept to the digit.
    assert.ok(raw.includes('"jb":{"a":2,"z":[3,4],"big":12345678901234567890}'), raw);
  });
});
