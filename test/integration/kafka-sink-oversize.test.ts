import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import {
  type CdcFixture,
  cdcFixture,
  incompressibleText,
  kafkaSink,
  postgresSource,
} from '../harness/cdc.js';
import { readAtLeast } from '../harness/kcat.js';
import { PgrelayProcess } from '../harness/pgrelay.js';
import { createTopics } from '../harness/topics.js';

/**
 * oversize = "dead_letter": a row larger than its topic accepts goes to dead_letter_topic (cut to
 * what that topic accepts) with its key, table, LSN and size, and the stream goes on.
 */
describe('Kafka sink: a row too large for its topic, dead-lettered', () => {
  let fx: CdcFixture;
  let relay: PgrelayProcess;

  before(async () => {
    fx = await cdcFixture('oversize');
    await createTopics(fx.brokers, [fx.topic('small')], 1, { 'max.message.bytes': '20000' });
    await createTopics(fx.brokers, [fx.topic('dlq')], 1, { 'max.message.bytes': '30000' });
    await fx.sql('CREATE TABLE notes (id int PRIMARY KEY, body text)');
    relay = await PgrelayProcess.create(
      postgresSource('db', fx, ['notes']) +
        kafkaSink(
          'out',
          fx,
          ['db'],
          `topic_fallback = "${fx.topic('small')}"\ndead_letter_topic = "${fx.topic('dlq')}"\noversize = "dead_letter"`,
        ),
    );
    await relay.start();
  });

  after(async () => {
    await relay?.destroy();
  });

  test('the row goes to the dead-letter topic, cut, with its coordinates; the rows around it are delivered', async () => {
    await fx.sql(
      `INSERT INTO notes VALUES (1, 'fits'), (42, ${incompressibleText(64_000)}), (3, 'fits too')`,
    );
    const events = await fx.events(fx.topic('small'), 2);
    assert.deepEqual(
      events.map((e) => e.columns!.id),
      [1, 3],
    );
    const [letter, ...more] = await readAtLeast(fx.brokers, fx.topic('dlq'), 1);
    assert.equal(more.length, 0);
    assert.equal(letter!.key, '{"id":42}');
    assert.equal(letter!.headers['pgrelay-table'], 'public.notes');
    assert.equal(letter!.headers['pgrelay-lsn'], events[0]!.lsn);
    assert.equal(letter!.headers['pgrelay-topic'], fx.topic('small'));
    assert.match(
      letter!.headers['pgrelay-error']!,
      /^message for topic .* key \{"id":42\}, is \d+ bytes: larger than the 20000 bytes/,
    );
    const size = Number(letter!.headers['pgrelay-size']);
    assert.ok(size > 20_000, `pgrelay-size ${size}: the size Kafka refused, over the topic's 20000 bytes`);
    const original = Number(letter!.headers['pgrelay-truncated']);
    assert.ok(
      original > 64_000,
      'the value was cut to what the dead-letter topic accepts, and says from what',
    );
    assert.ok(letter!.value!.length < 30_000);
    assert.ok(letter!.value!.startsWith('{"id":"'), 'the beginning of the row as JSON');

    const status = await relay.waitRunning();
    assert.deepEqual(status.sinks.out!.dead_letters, { oversize: 1, truncated: 1 });
    const stats = await relay.stats();
    assert.deepEqual(stats.sinks.out!.dropped, { oversize: 1 });
  });
});
