import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { Admin, ConfigResourceTypes } from '@platformatic/kafka';
import { type CdcFixture, cdcFixture, kafkaSink, postgresSource } from '../harness/cdc.js';
import { KafkaServer } from '../harness/kafka.js';
import { PgrelayProcess } from '../harness/pgrelay.js';
import { waitFor } from '../harness/processes.js';
import { createTopics } from '../harness/topics.js';

/**
 * A broker that does not create topics on first use (auto.create.topics.enable=false): a sink's
 * missing topic is named and retried until it exists, or, with create_topics, pgrelay creates it.
 */
describe('Kafka sink: topics that do not exist', () => {
  let kafka: KafkaServer;
  let fx: CdcFixture;
  let relay: PgrelayProcess;

  before(async () => {
    kafka = await KafkaServer.start({ settings: { 'auto.create.topics.enable': 'false' } });
    fx = await cdcFixture('topics', { brokers: kafka.brokers });
    await fx.sql('CREATE TABLE items (id int PRIMARY KEY)');
    relay = await PgrelayProcess.create(
      postgresSource('db', fx, ['items']) +
        kafkaSink('plain', fx, ['db'], `topic_fallback = "${fx.topic('plain')}"`) +
        kafkaSink(
          'creating',
          fx,
          ['db'],
          `topic_fallback = "${fx.topic('created')}"\n` +
            `create_topics = { partitions = 3, retention = "1h", cleanup_policy = "compact,delete", max_message_bytes = "2MB" }`,
        ),
    );
    await relay.start();
  });

  after(async () => {
    await relay?.destroy();
    await kafka?.destroy();
  });

  test('a missing topic nothing will create is reported as the sink opens, before any event', async () => {
    const missing = (await relay.status()).sinks;
    assert.deepEqual(missing.plain!.missing_topics, [fx.topic('plain')]);
    assert.equal(missing.plain!.state, 'running', 'it delivers to the topics that exist meanwhile');
    assert.equal(missing.creating!.missing_topics, undefined, 'create_topics creates it');
    const metrics = await (await relay.get('/metrics')).text();
    assert.match(metrics, /^pgrelay_sink_missing_topics\{component="plain",role="sink",type="kafka"\} 1$/m);
    assert.match(
      metrics,
      /^pgrelay_sink_missing_topics\{component="creating",role="sink",type="kafka"\} 0$/m,
    );
    assert.match(
      relay.log(),
      new RegExp(
        `sink plain: topic ${fx.topic('plain').replaceAll('.', '\\.')} does not exist, and the broker does not create topics`,
      ),
    );
    await fx.sql('INSERT INTO items SELECT g FROM generate_series(1, 100) g');
  });

  test('without create_topics: the sink retries, naming the topic, and delivers once it exists', async () => {
    const status = await waitFor(
      'the sink to retry',
      async () => {
        const s = await relay.status();
        return s.sinks.plain!.state === 'retrying' ? s : undefined;
      },
      90_000,
      relay.logFile,
    );
    const error = status.sinks.plain!.last_error!;
    assert.equal(error.code, 'PGRELAY_KAFKA_UNKNOWN_TOPIC');
    assert.match(
      error.message,
      new RegExp(`topic ${fx.topic('plain').replaceAll('.', '\\.')} does not exist`),
    );
    assert.match(error.message, /auto\.create\.topics\.enable=false.*create_topics/);
    await createTopics(kafka.brokers, [fx.topic('plain')], 1);
    assert.equal((await fx.events(fx.topic('plain'), 100, 120_000)).length, 100);
    assert.equal((await relay.status()).sinks.plain!.missing_topics, undefined);
    const metrics = await (await relay.get('/metrics')).text();
    assert.match(metrics, /^pgrelay_sink_missing_topics\{component="plain",role="sink",type="kafka"\} 0$/m);
  });

  test('with create_topics: pgrelay creates the topic with those settings', async () => {
    assert.equal((await fx.events(fx.topic('created'), 100, 120_000)).length, 100);
    const admin = new Admin({ clientId: 'pgrelay-test', bootstrapBrokers: kafka.brokers });
    try {
      const metadata = await admin.metadata({ topics: [fx.topic('created')] });
      assert.equal(metadata.topics.get(fx.topic('created'))!.partitionsCount, 3);
      const [description] = await admin.describeConfigs({
        resources: [{ resourceType: ConfigResourceTypes.TOPIC, resourceName: fx.topic('created') }],
      });
      const config = Object.fromEntries(description!.configs.map((c) => [c.name, c.value]));
      assert.equal(config['retention.ms'], '3600000');
      assert.equal(config['cleanup.policy'], 'compact,delete');
      assert.equal(config['max.message.bytes'], String(2 * 1024 * 1024));
    } finally {
      await admin.close();
    }
    await relay.waitRunning();
  });
});
