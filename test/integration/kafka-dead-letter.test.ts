import assert from 'node:assert/strict';
import { after, describe, it } from 'node:test';
import { kafkaSink, kafkaSource } from '../fixtures/configs.js';
import { relayMessages } from '../fixtures/events.js';
import { readAtLeast, readTopic } from '../harness/kcat.js';
import { PgrelayProcess } from '../harness/pgrelay.js';
import { waitFor } from '../harness/processes.js';
import { sharedKafka } from '../harness/services.js';
import {
  alterTopic,
  committedOffsets,
  createTopics,
  produce,
  topicSize,
  uniqueName,
  waitForSize,
} from '../harness/topics.js';

/** What cannot be decoded as a pgrelay or psql-streamer event, and why the DLQ header will say so. */
const BAD = [
  { key: 'k1', value: 'not json at all', reason: /value is not JSON/ },
  {
    key: 'k2',
    value: '{"id":"0/1:0","action":"insert"}',
    reason: /not a pgrelay event: missing field "lsn"/,
  },
  {
    key: 'k3',
    value: '{"Table":"t","Columns":{}}',
    reason: /not a psql-streamer event: missing field "UUID"/,
  },
  { key: 'k4', value: '[1,2,3]', reason: /not an object/ },
];

/** Good events on partition 0 and 1, with the bad messages in between on partition 1. */
async function produceMixed(brokers: string[], topic: string): Promise<void> {
  const good = relayMessages(40);
  await produce(brokers, topic, [
    ...good.slice(0, 20).map((m) => ({ ...m, partition: 0 })),
    ...good.slice(20, 30).map((m) => ({ ...m, partition: 1 })),
    ...BAD.map(({ key, value }) => ({ key, value, partition: 1, headers: { trace: 'abc' } })),
    ...good.slice(30).map((m) => ({ ...m, partition: 1 })),
  ]);
}

async function allCommitted(brokers: string[], group: string, topic: string, ends: number[]): Promise<void> {
  await waitFor(
    `group ${group} to commit ${ends.join(',')}`,
    async () => {
      const offsets = await committedOffsets(brokers, group, topic);
      return ends.every((end, p) => offsets.get(p) === end) ? true : undefined;
    },
    20_000,
  );
}

describe('undecodable Kafka messages', () => {
  const processes: PgrelayProcess[] = [];
  after(async () => {
    for (const p of processes) await p.destroy();
  });

  async function relay(
    brokers: string[],
    topic: string,
    group: string,
    out: string,
    dlq?: string,
    waitRunning = true,
  ) {
    const process = await PgrelayProcess.create(
      kafkaSource('edge', { brokers, topics: [topic], group_id: group, dead_letter_topic: dlq }) +
        kafkaSink('central', { brokers, sources: ['edge'], topic_fallback: out }),
    );
    processes.push(process);
    await process.start({ waitRunning });
    return process;
  }

  it('go to dead_letter_topic as they were, with headers naming topic, partition, offset and error', async () => {
    const brokers = await sharedKafka();
    const topic = uniqueName('dlq-in');
    const [out, dlq, group] = [`${topic}.out`, `${topic}.dlq`, `${topic}-group`];
    await createTopics(brokers, [topic], 2);
    await produceMixed(brokers, topic);
    const process = await relay(brokers, topic, group, out, dlq);

    const letters = await readAtLeast(brokers, dlq, BAD.length);
    assert.equal(letters.length, BAD.length);
    for (const [i, bad] of BAD.entries()) {
      const letter = letters[i]!;
      assert.equal(letter.key, bad.key);
      assert.equal(letter.value, bad.value);
      assert.equal(letter.headers.trace, 'abc', 'the original headers are kept');
      assert.equal(letter.headers['pgrelay-source'], 'edge');
      assert.equal(letter.headers['pgrelay-source-topic'], topic);
      assert.equal(letter.headers['pgrelay-source-partition'], '1');
      assert.equal(letter.headers['pgrelay-source-offset'], String(10 + i));
      assert.match(letter.headers['pgrelay-error']!, bad.reason);
    }
    await waitForSize(brokers, out, 40);
    await allCommitted(brokers, group, topic, [20, 10 + BAD.length + 10]);
    assert.equal(await topicSize(brokers, out), 40, 'every good event, once');
    const s = await process.stats();
    assert.deepEqual(s.sources.edge!.dropped, { undecodable: BAD.length });
    assert.equal(s.sources.edge!.events_out, 40);
  });

  it('without dead_letter_topic are logged and counted, and the relay goes on past them', async () => {
    const brokers = await sharedKafka();
    const topic = uniqueName('dlq-none');
    const [out, group] = [`${topic}.out`, `${topic}-group`];
    await createTopics(brokers, [topic], 2);
    await produceMixed(brokers, topic);
    const process = await relay(brokers, topic, group, out);

    await waitForSize(brokers, out, 40);
    await allCommitted(brokers, group, topic, [20, 10 + BAD.length + 10]);
    assert.equal(await topicSize(brokers, out), 40);
    assert.deepEqual((await process.stats()).sources.edge!.dropped, { undecodable: BAD.length });
    const skipped =
      process.log().match(new RegExp(`undecodable message ${topic}\\[1\\]@1[0-3] skipped`, 'g')) ?? [];
    assert.equal(skipped.length, BAD.length, process.log().slice(-2000));
  });

  it('hold the offset while the dead letter cannot be written, and pass it once it is', async () => {
    const brokers = await sharedKafka();
    const topic = uniqueName('dlq-held');
    const [out, dlq, group] = [`${topic}.out`, `${topic}.dlq`, `${topic}-group`];
    await createTopics(brokers, [topic], 1);
    // Not even the dead letter's headers fit: the broker refuses it until an operator raises the
    // topic's size limit.
    await createTopics(brokers, [dlq], 1, { 'max.message.bytes': '200' });
    const [before, afterBad] = [relayMessages(5), relayMessages(5, { first: 5 })];
    await produce(brokers, topic, [
      ...before,
      { key: 'big', value: `not json ${'x'.repeat(2000)}` },
      ...afterBad,
    ]);
    const process = await relay(brokers, topic, group, out, dlq, false);

    const status = await waitFor(
      'the source to retry the dead letter',
      async () => {
        const s = await process.status();
        return s.sources.edge!.state === 'retrying' ? s : undefined;
      },
      20_000,
    );
    assert.equal(status.sources.edge!.last_error?.code, 'PGRELAY_KAFKA_DEAD_LETTER');
    assert.match(status.sources.edge!.last_error?.message ?? '', new RegExp(`dead_letter_topic ${dlq}`));
    await allCommitted(brokers, group, topic, [5]);
    assert.equal(
      (await readTopic(brokers, out)).length,
      5,
      'nothing after the undecodable message is relayed yet',
    );

    await alterTopic(brokers, dlq, { 'max.message.bytes': '1048576' });
    await allCommitted(brokers, group, topic, [11]);
    const letters = await readAtLeast(brokers, dlq, 1);
    assert.equal(letters[0]!.headers['pgrelay-source-offset'], '5');
    const relayed = await readAtLeast(brokers, out, 10);
    assert.deepEqual(
      relayed.map((m) => (JSON.parse(m.value!) as { columns: { seq: number } }).columns.seq),
      [0, 1, 2, 3, 4, 5, 6, 7, 8, 9],
    );
    await waitFor(
      'the source to run again',
      async () => ((await process.status()).status === 'ok' ? true : undefined),
      10_000,
    );
  });

  it('larger than dead_letter_topic accepts are cut to fit, say so, and never stall the partition', async () => {
    const brokers = await sharedKafka();
    const topic = uniqueName('dlq-big');
    const [out, dlq, group] = [`${topic}.out`, `${topic}.dlq`, `${topic}-group`];
    const size = 5 * 1024 * 1024;
    await createTopics(brokers, [topic], 1, { 'max.message.bytes': String(size + 1024 * 1024) });
    await createTopics(brokers, [dlq], 1); // the broker's default: about 1 MB per message
    const poison = `not json ${'x'.repeat(size - 9)}`;
    await produce(brokers, topic, [
      ...relayMessages(5),
      { key: 'huge', value: poison, headers: { trace: 'abc' } },
    ]);
    await produce(brokers, topic, relayMessages(5, { first: 5 }));
    const process = await relay(brokers, topic, group, out, dlq);

    await allCommitted(brokers, group, topic, [11]);
    const [letter] = await readAtLeast(brokers, dlq, 1);
    assert.equal(letter!.key, 'huge');
    assert.equal(letter!.headers['pgrelay-truncated'], String(size), 'the original size');
    assert.equal(letter!.headers['pgrelay-source-topic'], topic);
    assert.equal(letter!.headers['pgrelay-source-partition'], '0');
    assert.equal(letter!.headers['pgrelay-source-offset'], '5');
    assert.match(letter!.headers['pgrelay-error']!, /value is not JSON/);
    assert.equal(letter!.headers.trace, 'abc');
    assert.ok(
      letter!.value!.length > 0 && letter!.value!.length < 1024 * 1024,
      `${letter!.value!.length} bytes kept`,
    );
    assert.ok(poison.startsWith(letter!.value!), 'the value is cut, not changed');
    const relayed = await readAtLeast(brokers, out, 10);
    assert.equal(relayed.length, 10);
    const source = (await process.stats()).sources.edge!;
    assert.deepEqual(source.dropped, { undecodable: 1 });
    const details = (await process.status()).sources.edge! as unknown as {
      dead_letters: { written: number; truncated: number };
    };
    assert.deepEqual(details.dead_letters, { written: 1, truncated: 1 });
    assert.equal((await process.status()).status, 'ok');
  });
});
