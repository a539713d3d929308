import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { type CdcFixture, cdcFixture, kafkaSink, postgresSource } from '../harness/cdc.js';
import { PgrelayProcess } from '../harness/pgrelay.js';
import { createTopics } from '../harness/topics.js';
import { pgrelay } from '../helpers/cli.js';
import {
  ITEM_COLUMNS,
  ITEMS_TABLE,
  caughtUp,
  churn,
  differences,
  itemRows,
  lastPerKey,
} from '../helpers/churn.js';

const ROWS = 60_000;

/**
 * `pgrelay backfill` reads a table again while the stream runs and transactions change it: the
 * result is exact, and no key's snapshot row lands after a newer live change of that key.
 */
describe('PostgreSQL → Kafka: backfill beside the stream', () => {
  let fx: CdcFixture;
  let relay: PgrelayProcess;
  let load: ReturnType<typeof churn>;

  before(async () => {
    fx = await cdcFixture('backfill');
    await fx.sql(`CREATE TABLE items ${ITEMS_TABLE}`);
    await fx.sql('CREATE TABLE unpublished (id int PRIMARY KEY)');
    await fx.sql('CREATE TABLE keyless (n int)');
    await createTopics(fx.brokers, [fx.topic('unused')]);
    relay = await PgrelayProcess.create(
      postgresSource(
        'db',
        fx,
        ['items', 'keyless'],
        'snapshot_chunk = 2000\ninsert_only_tables = ["keyless"]',
      ) +
        kafkaSink('out', fx, ['db'], `topic_fallback = "${fx.topic('items')}"`) +
        `\n[sources.other]\ntype = "kafka"\nbrokers = ${JSON.stringify(fx.brokers)}\ntopics = ["${fx.topic('unused')}"]\ngroup_id = "${fx.topic('group')}"\n` +
        kafkaSink('other-out', fx, ['other'], `topic_fallback = "${fx.topic('other')}"`),
    );
    await relay.start();
    // Written while streaming: the table's rows are in the topic once already.
    await fx.sql(itemRows('items', ROWS));
  });

  after(async () => {
    await load?.stop();
    await relay?.destroy();
  });

  test('a backfill started with the CLI is exact, and never overtakes a live change of its key', async () => {
    load = churn(fx.dsn, 'items', ROWS + 1);
    // --wait returns when the backfill is done: most of this test, on a loaded machine a minute or more.
    const backfill = await pgrelay(
      ['backfill', '-c', relay.configFile, '--source', 'db', '--table', 'items', '--wait'],
      { timeoutMs: 300_000 },
    );
    assert.equal(backfill.code, 0, backfill.stderr);
    const id = backfill.stdout.trim();
    assert.match(id, /^[0-9a-f-]{36}$/);
    assert.match(backfill.stderr, new RegExp(`backfill ${id} of items done: \\d+ rows`));
    const changesDuring = load.changes;
    await new Promise((resolve) => setTimeout(resolve, 500));
    await load.stop();
    await caughtUp(relay, (text) => fx.sql(text));

    const { events, last } = await lastPerKey(fx.brokers, fx.topic('items'));
    const rows = await fx.sql(`SELECT ${ITEM_COLUMNS} FROM items ORDER BY id`);
    assert.deepEqual(differences(last, rows), []);

    // Per key, in topic order: a snapshot row is never older than a live change before it, and a
    // live change after it is newer; a deleted key (ids are never reused) gets no snapshot row.
    const problems: string[] = [];
    const seen = new Map<string, { version: number; deleted: boolean }>();
    let interleaved = 0;
    for (const event of events) {
      const key = JSON.stringify(event.key);
      const state = seen.get(key) ?? { version: 0, deleted: false };
      const version = (event.columns?.version as number | undefined) ?? 0;
      if (event.action === 'snapshot') {
        if (state.deleted) problems.push(`${key}: snapshot row after its delete`);
        if (version < state.version)
          problems.push(`${key}: snapshot row v${version} after live v${state.version}`);
        if (state.version > 1) interleaved++;
      } else if (event.action === 'delete') {
        state.deleted = true;
      } else if (version <= state.version && event.action === 'update') {
        problems.push(`${key}: live ${event.action} v${version} after v${state.version}`);
      }
      state.version = Math.max(state.version, version);
      seen.set(key, state);
    }
    assert.deepEqual(problems, []);
    const snapshot = events.filter((e) => e.action === 'snapshot');
    assert.ok(snapshot.length > ROWS / 2, `${snapshot.length} rows backfilled`);
    assert.ok(snapshot.every((e) => e.id.startsWith(`backfill:${id}:public.items:`)));
    // Each chunk's rows carry the time the chunk was read.
    const times = new Set(snapshot.map((e) => e.commit_time));
    const untimed = [...times].filter((t) => !/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}Z$/.test(t ?? 'null'));
    assert.deepEqual(untimed, [], 'every backfilled row has a time');
    assert.ok(times.size > 1, `${times.size} times for ${Math.ceil(ROWS / 2000)} chunks`);
    assert.ok(interleaved > 0, 'some backfilled keys had live updates before their snapshot row');
    process.stdout.write(
      `# backfill: ${snapshot.length} rows beside ${changesDuring} live transactions; ${interleaved} keys updated before their row\n`,
    );
  });

  test('the HTTP API refuses what it cannot backfill, and one backfill per table at a time', async () => {
    const post = (source: string, body: unknown) =>
      relay.get(`/sources/${source}/backfill`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify(body),
      });
    const badWhere = await post('db', { table: 'items', where: 'nosuchcolumn > 1' });
    assert.equal(badWhere.status, 400);
    assert.match(((await badWhere.json()) as { error: string }).error, /nosuchcolumn/);
    const first = await post('db', { table: 'public.items', where: 'id > 100' });
    assert.equal(first.status, 202);
    const started = (await first.json()) as { id: string; where: string };
    assert.equal(started.where, 'id > 100');
    const second = await post('db', { table: 'items' });
    assert.equal(second.status, 409);
    assert.match(
      ((await second.json()) as { error: string }).error,
      /a backfill of public\.items is running/,
    );

    assert.equal((await post('nosuch', { table: 'items' })).status, 404);
    const kafka = await post('other', { table: 'items' });
    assert.equal(kafka.status, 400);
    assert.match(((await kafka.json()) as { error: string }).error, /only postgres sources/);
    const unpublished = await post('db', { table: 'unpublished' });
    assert.equal(unpublished.status, 400);
    assert.match(((await unpublished.json()) as { error: string }).error, /not in publication/);
    const keyless = await post('db', { table: 'keyless' });
    assert.equal(keyless.status, 400);
    assert.match(((await keyless.json()) as { error: string }).error, /no primary key/);
    assert.equal((await post('db', {})).status, 400);

    const cli = await pgrelay([
      'backfill',
      '-c',
      relay.configFile,
      '--source',
      'db',
      '--table',
      'unpublished',
    ]);
    assert.equal(cli.code, 2);
    assert.match(cli.stderr, /not in publication/);
  });
});
