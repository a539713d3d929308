import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { type CdcFixture, cdcFixture, kafkaSink, postgresSource } from '../harness/cdc.js';
import { PgrelayProcess } from '../harness/pgrelay.js';
import { waitFor } from '../harness/processes.js';
import { pgrelay } from '../helpers/cli.js';

/**
 * A backfill's `where` narrows the rows read and does nothing else: it is checked as one condition,
 * planned and read with the extended query protocol (one statement) in READ ONLY transactions.
 */
describe('PostgreSQL backfill: the where condition cannot run SQL', () => {
  let fx: CdcFixture;
  let relay: PgrelayProcess;
  const victimExists = async () =>
    (await fx.sql(`SELECT to_regclass('public.victim') IS NOT NULL AS present`))[0]!.present === true;
  const post = (where: string) =>
    relay.get('/sources/db/backfill', {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ table: 'public.t', where }),
    });

  before(async () => {
    fx = await cdcFixture('backfillsql');
    await fx.sql('CREATE TABLE t (id int PRIMARY KEY, name text)');
    await fx.sql('CREATE TABLE victim (id int)');
    await fx.sql('INSERT INTO victim VALUES (1)');
    await fx.sql('CREATE SEQUENCE counter');
    await fx.sql(`INSERT INTO t SELECT g, 'row ' || g FROM generate_series(1, 10) g`);
    relay = await PgrelayProcess.create(
      postgresSource('db', fx, ['t']) + kafkaSink('out', fx, ['db'], `topic_fallback = "${fx.topic('t')}"`),
    );
    await relay.start();
  });

  after(async () => {
    await relay?.destroy();
  });

  test('a condition that breaks out of its parentheses is refused with 400, and nothing runs', async () => {
    for (const where of [
      '1=1); DROP TABLE victim; --',
      '1=1) UNION ALL SELECT 1, 2 FROM victim WHERE (true',
      '1=1); INSERT INTO victim VALUES (2); SELECT (1',
    ]) {
      const response = await post(where);
      assert.equal(response.status, 400, where);
      const body = (await response.json()) as { error: string; code: string };
      assert.equal(body.code, 'PGRELAY_BACKFILL_WHERE');
      assert.match(body.error, /is not one SQL condition: "\)" at character \d+ closes a parenthesis/);
    }
    assert.equal(await victimExists(), true);
    assert.deepEqual(await fx.sql('SELECT id FROM victim'), [{ id: 1 }]);
  });

  test('a condition PostgreSQL does not take as a boolean expression is refused with its reason', async () => {
    const response = await post('id + 1');
    assert.equal(response.status, 400);
    const body = (await response.json()) as { error: string; code: string };
    assert.equal(body.code, 'PGRELAY_BACKFILL_WHERE');
    assert.match(
      body.error,
      /"id \+ 1" is not one SQL condition: PostgreSQL refuses it for public\.t: argument of WHERE must be type boolean/,
    );
  });

  test('a condition that would write fails the backfill in its read-only transaction', async () => {
    const response = await post(`nextval('counter') > 0`);
    assert.equal(response.status, 202);
    const id = ((await response.json()) as { id: string }).id;
    await waitFor(
      `backfill ${id} to fail`,
      async () => {
        const status = await relay.status();
        const backfill = (status.sources.db!.backfill as Record<string, { state: string }>)['public.t'];
        return backfill?.state === 'failed' ? true : undefined;
      },
      30_000,
      relay.logFile,
    );
    assert.match(relay.log(), /cannot execute nextval\(\) in a read-only transaction/);
    assert.deepEqual(await fx.sql('SELECT is_called FROM counter'), [{ is_called: false }]);
  });

  test('the CLI refuses such a condition itself, exit 2, without asking pgrelay', async () => {
    const result = await pgrelay([
      'backfill',
      '-c',
      relay.configFile,
      '--source',
      'db',
      '--table',
      't',
      '--where',
      '1=1); DROP TABLE victim; --',
    ]);
    assert.equal(result.code, 2, result.stderr);
    assert.match(result.stderr, /--where: "1=1\); DROP TABLE victim; --" is not one SQL condition/);
    assert.equal(await victimExists(), true);
  });
});
