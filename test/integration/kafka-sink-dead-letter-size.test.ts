import assert from 'node:assert/strict';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';
import { type CdcFixture, cdcFixture, kafkaSink, postgresSource } from '../harness/cdc.js';
import { readAtLeast } from '../harness/kcat.js';
import { PgrelayProcess, ROOT } from '../harness/pgrelay.js';
import { createTopics } from '../harness/topics.js';

const EXAMPLE_PLUGIN = path.join(ROOT, 'dist/plugins/examples/tenant-topics.js');

/**
 * A dead letter never fails on size: an event a handler fails on, larger than dead_letter_topic
 * accepts, is written there cut to fit, with its coordinates, its error, and its original size.
 * (A dead letter the topic refused used to stop the partition behind it for good.)
 */
describe('Kafka sink: a dead letter larger than its topic accepts', () => {
  let fx: CdcFixture;
  let relay: PgrelayProcess;

  before(async () => {
    fx = await cdcFixture('dlqsize');
    await createTopics(fx.brokers, [fx.topic('dlq')], 1, { 'max.message.bytes': '10000' });
    await fx.sql('CREATE TABLE items (id int PRIMARY KEY, tenant text, body text)');
    relay = await PgrelayProcess.create(
      postgresSource('db', fx, ['items']) +
        `[handlers.tenants]\ntype = "module"\npath = "${EXAMPLE_PLUGIN}"\noptions = { column = "tenant", prefix = "${fx.topic('t')}" }\n` +
        kafkaSink('out', fx, ['db'], `handlers = ["tenants"]\ndead_letter_topic = "${fx.topic('dlq')}"`),
    );
    await relay.start();
  });

  after(async () => {
    await relay?.destroy();
  });

  test('it is cut to fit, says so, and the stream goes on', async () => {
    await fx.sql(
      `INSERT INTO items VALUES (1, 'acme', 'small'), (2, 'a/b', repeat('x', 200000)), (3, 'acme', 'small')`,
    );
    const delivered = await fx.events(fx.topic('t.acme'), 2);
    assert.deepEqual(
      delivered.map((e) => e.columns!.id),
      [1, 3],
    );
    const [letter] = await readAtLeast(fx.brokers, fx.topic('dlq'), 1);
    assert.equal(letter!.key, '{"id":2}');
    assert.equal(letter!.headers['pgrelay-handler'], 'tenants');
    assert.match(letter!.headers['pgrelay-error']!, /tenant "a\/b" does not make a valid topic name/);
    assert.equal(letter!.headers['pgrelay-table'], 'public.items');
    assert.equal(letter!.headers['pgrelay-lsn'], delivered[0]!.lsn);
    assert.ok(Number(letter!.headers['pgrelay-truncated']) > 200_000, 'the original size');
    assert.ok(letter!.value!.length < 10_000 && letter!.value!.startsWith('{"id":"'));

    const status = await relay.waitRunning();
    assert.deepEqual(status.sinks.out!.dead_letters, { oversize: 0, truncated: 1 });
    const stats = await relay.stats();
    assert.deepEqual(stats.sinks.out!.dropped, { dead_letter: 1 });
  });
});
