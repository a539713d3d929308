import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import {
  type CdcFixture,
  cdcFixture,
  incompressibleText,
  kafkaSink,
  postgresSource,
} from '../harness/cdc.js';
import { PgrelayProcess } from '../harness/pgrelay.js';
import { createTopics } from '../harness/topics.js';
import { waitFor } from '../harness/processes.js';

/** A message larger than the broker accepts is a named error with the table and key, never a silent drop. */
describe('Kafka sink: a message too large for the topic', () => {
  let fx: CdcFixture;
  let relay: PgrelayProcess;

  before(async () => {
    fx = await cdcFixture('large');
    await createTopics(fx.brokers, [fx.topic('small')], 1, { 'max.message.bytes': '20000' });
    await fx.sql('CREATE TABLE notes (id int PRIMARY KEY, body text)');
    relay = await PgrelayProcess.create(
      postgresSource('db', fx, ['notes']) +
        kafkaSink('out', fx, ['db'], `topic_fallback = "${fx.topic('small')}"`),
    );
    await relay.start();
  });

  after(async () => {
    await relay?.destroy();
  });

  test('the sink fails naming table and key; the rows before it arrive; the position stays', async () => {
    await fx.sql(`INSERT INTO notes VALUES (1, 'fits'), (2, 'fits too')`);
    await fx.events(fx.topic('small'), 2);
    const position = (await relay.status()).sources.db!.position;
    await fx.sql(`INSERT INTO notes VALUES (3, 'fits as well'), (42, ${incompressibleText(64_000)})`);
    const status = await waitFor(
      'the sink to fail',
      async () => {
        const body = await relay.status();
        return body.sinks.out!.state === 'failed' ? body : undefined;
      },
      60_000,
      relay.logFile,
    );
    const error = status.sinks.out!.last_error!;
    assert.equal(error.code, 'PGRELAY_KAFKA_MESSAGE_TOO_LARGE');
    assert.match(error.message, /public\.notes/);
    assert.match(error.message, /key \{"id":42\}/);
    assert.equal((await relay.get('/status')).status, 503);
    const events = await fx.events(fx.topic('small'), 3);
    assert.deepEqual(
      events.map((e) => e.columns!.id),
      [1, 2, 3],
      'the batch was split: what fits was delivered in order up to the oversized row',
    );
    await new Promise((r) => setTimeout(r, 1000));
    assert.equal(
      (await relay.status()).sources.db!.position,
      position,
      'the source position did not move past the failed row',
    );
  });
});
