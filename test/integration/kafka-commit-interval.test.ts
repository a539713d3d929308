import assert from 'node:assert/strict';
import { after, describe, it } from 'node:test';
import { kafkaSink, kafkaSource } from '../fixtures/configs.js';
import { partitionedMessages } from '../fixtures/events.js';
import { PgrelayProcess } from '../harness/pgrelay.js';
import { waitFor } from '../harness/processes.js';
import { sharedKafka } from '../harness/services.js';
import { committedOffsets, createTopics, produce, uniqueName, waitForSize } from '../harness/topics.js';

/**
 * A Kafka source's commit_interval: delivered offsets are committed at most that often. What was
 * delivered since the last commit is sent again after kill -9; a stop commits it at once.
 */
describe('Kafka source: commit_interval', () => {
  const processes: PgrelayProcess[] = [];
  after(async () => {
    for (const p of processes) await p.destroy();
  });

  it('commits at most that often; kill -9 sends again what was not committed, a stop commits it', async () => {
    const brokers = await sharedKafka();
    const input = uniqueName('interval');
    const [out, group] = [`${input}.out`, `${input}-group`];
    // One partition: one delivery, one commit, one offset to read.
    await createTopics(brokers, [input, out], 1);
    const config =
      kafkaSource('edge', {
        brokers,
        topics: [input],
        group_id: group,
        commit_interval: '60s',
        session_timeout: '3s',
      }) + kafkaSink('central', { brokers, sources: ['edge'], topic_fallback: out });
    const committed = async () => (await committedOffsets(brokers, group, input)).get(0) ?? -1;
    const committedTo = (offset: number) =>
      waitFor(
        `the group to commit offset ${offset}`,
        async () => ((await committed()) === offset ? true : undefined),
        60_000,
      );
    const start = async () => {
      const relay = await PgrelayProcess.create(config);
      processes.push(relay);
      await relay.start();
      return relay;
    };

    let relay = await start();
    await produce(brokers, input, partitionedMessages(0, 1, 1, 1));
    await waitForSize(brokers, out, 1);
    await committedTo(1); // the first commit goes out at once

    await produce(brokers, input, partitionedMessages(1, 100, 1, 1));
    await waitForSize(brokers, out, 101);
    assert.equal(
      await committed(),
      1,
      'delivered within the minute after the last commit: not committed yet',
    );

    await relay.kill();
    relay = await start();
    await waitForSize(brokers, out, 201);
    await committedTo(101);
    assert.equal(
      await waitForSize(brokers, out, 201),
      201,
      'the 100 uncommitted messages were sent again, once',
    );

    await produce(brokers, input, partitionedMessages(101, 10, 1, 1));
    await waitForSize(brokers, out, 211);
    assert.equal(await committed(), 101);
    assert.equal(await relay.stop(), 0);
    assert.equal(await committed(), 111, 'a stop commits what was delivered');
  });
});
