import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { after, describe, test } from 'node:test';
import { cdcFixture } from '../harness/cdc.js';
import { readAtLeast } from '../harness/kcat.js';
import { PgrelayProcess, ROOT } from '../harness/pgrelay.js';
import { sourceProblems } from '../helpers/publications.js';

/** The config README's "Migrating from psql-streamer" gives for psql-streamer's sample. */
function readmeConfig(): string {
  const readme = fs.readFileSync(path.join(ROOT, 'README.md'), 'utf8');
  const block =
    /```toml\n(\s*# psql-streamer's sample psql-streamer\.toml, as pgrelay\.toml\n[\s\S]*?)```/.exec(readme);
  assert.ok(block, 'README has the migration example');
  return block[1]!.replace(/^ {3}/gm, '');
}

/**
 * README's migration steps, followed with its config for psql-streamer's sample (tables without a
 * schema, topic_map keyed by bare table names, psql-streamer's publication and slot): each table's
 * changes arrive on its old topic as psql-streamer's events, with nothing lost since psql-streamer
 * stopped.
 */
describe('migrating from psql-streamer', () => {
  let relay: PgrelayProcess | undefined;

  after(async () => {
    await relay?.destroy();
  });

  test("README's steps and config stream every table to its old topic", async () => {
    const fx = await cdcFixture('migration');
    const slot = `db1_${fx.database}`;
    // What psql-streamer leaves: its publication (as its README creates it) and its slot.
    await fx.sql(`CREATE TABLE table1 (id int PRIMARY KEY, a text);
      CREATE TABLE table2 (id int PRIMARY KEY, b int);
      CREATE TABLE other (id int PRIMARY KEY);
      CREATE PUBLICATION pub1 FOR ALL TABLES`);
    await fx.sql(`SELECT pg_create_logical_replication_slot('${slot}', 'pgoutput')`);
    // Committed after psql-streamer stopped, before pgrelay starts.
    await fx.sql(`INSERT INTO table1 VALUES (1, 'while stopped')`);

    const topics = {
      topic1: fx.topic('topic1'),
      topic2: fx.topic('topic2'),
      garbageBin: fx.topic('garbage'),
    };
    const config = readmeConfig()
      // The harness's own: its listener, state file and stats setting.
      .replace(/^stats_interval = .*\n/m, '')
      .replace(/^\[http\]\nlisten = .*\n/m, '')
      .replace(/^\[state\]\npath = .*\n/m, '')
      .replace(
        /^dsn = .*$/m,
        `dsn = "host=127.0.0.1 port=${fx.pg.port} dbname=${fx.database} user=postgres sslmode=disable"`,
      )
      .replace(/^slot = "db1"/m, `slot = "${slot}"`)
      .replace(/^brokers = .*$/m, `brokers = ${JSON.stringify(fx.brokers)}`)
      .replace(/"(topic1|topic2|garbageBin)"/g, (_, name: keyof typeof topics) => `"${topics[name]}"`);
    relay = await PgrelayProcess.create(config);
    await relay.start();

    await fx.sql(`INSERT INTO table1 VALUES (2, 'two'); INSERT INTO table2 VALUES (1, 10)`);
    await fx.sql(`UPDATE table1 SET a = 'changed' WHERE id = 1; INSERT INTO other VALUES (7)`);

    const events = async (topic: string, count: number) =>
      (await readAtLeast(fx.brokers, topic, count)).map(
        (m) => JSON.parse(m.value!) as Record<string, unknown>,
      );
    const table1 = await events(topics.topic1, 3);
    assert.deepEqual(
      table1.map((e) => [e.Table, e.Action, e.Columns]),
      [
        ['table1', 'insert', { id: 1, a: 'while stopped' }],
        ['table1', 'insert', { id: 2, a: 'two' }],
        ['table1', 'update', { id: 1, a: 'changed' }],
      ],
    );
    assert.deepEqual(Object.keys(table1[0]!).sort(), [
      'Action',
      'Columns',
      'Database',
      'Host',
      'Table',
      'Timestamp',
      'UUID',
      'WALPosition',
    ]);
    assert.equal(table1[0]!.Database, fx.database);
    const table2 = await events(topics.topic2, 1);
    assert.deepEqual(
      table2.map((e) => [e.Table, e.Action, e.Columns]),
      [['table2', 'insert', { id: 1, b: 10 }]],
    );
    const fallback = await events(topics.garbageBin, 1);
    assert.deepEqual(
      fallback.map((e) => [e.Table, e.Columns]),
      [['other', { id: 7 }]],
    );

    const { http, problems } = await sourceProblems(relay, 'db1');
    assert.equal(http, 200);
    assert.deepEqual(problems, []);
    assert.deepEqual(
      await fx.sql(`SELECT obj_description(oid, 'pg_publication') AS comment FROM pg_publication`),
      [{ comment: null }],
      "psql-streamer's publication is left as it was",
    );
  });
});
