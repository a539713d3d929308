import assert from 'node:assert/strict';
import { after, describe, it } from 'node:test';
import { kafkaSink, kafkaSource } from '../fixtures/configs.js';
import { relayMessages } from '../fixtures/events.js';
import { PgrelayProcess, type StatusBody } from '../harness/pgrelay.js';
import { freePort, waitFor } from '../harness/processes.js';
import { sharedKafka } from '../harness/services.js';
import { createTopics, produce, uniqueName, waitForSize } from '../harness/topics.js';

describe('a Kafka source that cannot start yet', () => {
  const processes: PgrelayProcess[] = [];
  after(async () => {
    for (const p of processes) await p.destroy();
  });

  async function retrying(relay: PgrelayProcess): Promise<StatusBody['sources'][string]> {
    const status = await waitFor(
      'the source to retry',
      async () => {
        const s = await relay.status();
        return s.sources.edge!.state === 'retrying' ? s : undefined;
      },
      20_000,
    );
    assert.equal(status.status, 'degraded');
    return status.sources.edge!;
  }

  it('names the missing topic, retries until it exists, then relays', async () => {
    const brokers = await sharedKafka();
    const topic = uniqueName('late');
    const relay = await PgrelayProcess.create(
      kafkaSource('edge', { brokers, topics: [topic], group_id: `${topic}-group` }) +
        kafkaSink('central', { brokers, sources: ['edge'], topic_fallback: `${topic}.out` }),
    );
    processes.push(relay);
    await relay.start({ waitRunning: false });
    const source = await retrying(relay);
    assert.equal(source.last_error?.code, 'PGRELAY_KAFKA_UNKNOWN_TOPIC');
    assert.match(source.last_error?.message ?? '', new RegExp(`a topic of ${topic} does not exist`));

    await createTopics(brokers, [topic], 2);
    await produce(brokers, topic, relayMessages(100));
    await relay.waitRunning();
    assert.equal(await waitForSize(brokers, `${topic}.out`, 100), 100);
  });

  it('retries, naming the brokers, while none answers', async () => {
    const brokers = await sharedKafka();
    const nowhere = [`127.0.0.1:${await freePort()}`];
    const relay = await PgrelayProcess.create(
      kafkaSource('edge', { brokers: nowhere, topics: ['t'], group_id: uniqueName('nowhere') }) +
        kafkaSink('central', { brokers, sources: ['edge'], topic_fallback: uniqueName('unused') }),
    );
    processes.push(relay);
    await relay.start({ waitRunning: false });
    const source = await retrying(relay);
    assert.equal(source.last_error?.code, 'PGRELAY_KAFKA_UNAVAILABLE');
    assert.match(
      source.last_error?.message ?? '',
      new RegExp(`^Kafka ${nowhere[0]}, group nowhere-[0-9a-f]+: .*ECONNREFUSED`),
    );
    assert.equal(await relay.stop(), 0, 'stops promptly and cleanly while retrying');
  });
});
