import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { type CdcFixture, cdcFixture, kafkaSink, postgresSource } from '../harness/cdc.js';
import { PgrelayProcess } from '../harness/pgrelay.js';
import type { ChangeEvent } from '../../src/core/event.js';

/** Unchanged TOAST values: never a silent null. */
describe('PostgreSQL → Kafka: unchanged TOAST columns', () => {
  let fx: CdcFixture;
  let relay: PgrelayProcess;

  before(async () => {
    fx = await cdcFixture('toast');
    await fx.sql(`
      CREATE TABLE docs_default (id int PRIMARY KEY, title text, body text);
      CREATE TABLE docs_full (id int PRIMARY KEY, title text, body text);
      ALTER TABLE docs_full REPLICA IDENTITY FULL;
      ALTER TABLE docs_default ALTER COLUMN body SET STORAGE EXTERNAL;
      ALTER TABLE docs_full ALTER COLUMN body SET STORAGE EXTERNAL;`);
    relay = await PgrelayProcess.create(
      postgresSource('db', fx, ['docs_default', 'docs_full']) +
        kafkaSink('out', fx, ['db'], `topic_fallback = "${fx.topic('docs')}"`),
    );
    await relay.start();
  });

  after(async () => {
    await relay?.destroy();
  });

  test('default identity lists the column in unchanged_toast; FULL fills it from the old row', async () => {
    const body = 'x'.repeat(20_000);
    await fx.sql(
      `INSERT INTO docs_default VALUES (1, 'first', $1); INSERT INTO docs_full VALUES (1, 'first', $1)`.replace(
        /\$1/g,
        `'${body}'`,
      ),
    );
    await fx.sql(`UPDATE docs_default SET title = 'second' WHERE id = 1`);
    await fx.sql(`UPDATE docs_full SET title = 'second' WHERE id = 1`);

    const events = await fx.events(fx.topic('docs'), 4);
    const updates = events.filter((e) => e.action === 'update');
    const byTable = new Map<string | null, ChangeEvent>(updates.map((e) => [e.table, e]));

    const partial = byTable.get('docs_default')!;
    assert.equal(partial.columns!.title, 'second');
    assert.equal('body' in partial.columns!, false, 'an unchanged TOAST value is absent, not null');
    assert.deepEqual(partial.unchanged_toast, ['body']);

    const full = byTable.get('docs_full')!;
    assert.equal(full.columns!.title, 'second');
    assert.equal(full.columns!.body, body, 'REPLICA IDENTITY FULL: taken from the old row');
    assert.deepEqual(full.unchanged_toast, []);
    assert.equal(full.old!.title, 'first');
    assert.deepEqual(
      full.key,
      { id: 1 },
      'the key is the primary key even when every column is replica identity',
    );

    const inserted = events.filter((e) => e.action === 'insert');
    assert.equal(inserted.length, 2);
    for (const e of inserted) assert.equal(e.columns!.body, body);
  });
});
