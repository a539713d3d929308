import assert from 'node:assert/strict';
import { after, describe, it } from 'node:test';
import type { ChangeEvent } from '../../src/core/event.js';
import { kafkaSink, kafkaSource } from '../fixtures/configs.js';
import { relayMessages, runsPerRow } from '../fixtures/events.js';
import { type ConsumedMessage, readTopic } from '../harness/kcat.js';
import { PgrelayProcess } from '../harness/pgrelay.js';
import { waitFor } from '../harness/processes.js';
import { sharedKafka } from '../harness/services.js';
import {
  committedOffsets,
  createTopics,
  produce,
  topicSize,
  uniqueName,
  waitForSize,
} from '../harness/topics.js';

/** Every message's event, checking each is keyed by its row and each row's changes came in order. */
function inRowOrder(messages: ConsumedMessage[]): ChangeEvent[] {
  const events = messages.map((m) => JSON.parse(m.value!) as ChangeEvent);
  events.forEach((event, i) => assert.equal(messages[i]!.key, JSON.stringify(event.key), 'keyed by the row'));
  for (const [row, runs] of runsPerRow(events)) {
    assert.equal(runs.length, 1, `${row}: changes out of order or repeated: ${JSON.stringify(runs)}`);
  }
  return events;
}

async function committedTotal(brokers: string[], group: string, topic: string): Promise<number> {
  let total = 0;
  for (const offset of (await committedOffsets(brokers, group, topic)).values()) total += Math.max(0, offset);
  return total;
}

describe('Kafka-to-Kafka relay', () => {
  const processes: PgrelayProcess[] = [];
  after(async () => {
    for (const p of processes) await p.destroy();
  });

  it('relays 100k messages of two topics exactly once, in order per row, and commits every offset', async () => {
    const brokers = await sharedKafka();
    const prefix = uniqueName('relay');
    const [users, orders] = [`${prefix}.users`, `${prefix}.orders`];
    const [usersOut, ordersOut] = [`${prefix}.out.users`, `${prefix}.out.orders`];
    const group = `${prefix}-group`;
    await createTopics(brokers, [users], 4);
    await createTopics(brokers, [orders], 2);
    await createTopics(brokers, [usersOut, ordersOut], 3);
    const usersIn = relayMessages(60_000, { table: 'users', rows: 1000 });
    const ordersIn = relayMessages(40_000, { table: 'orders', rows: 500, first: 60_000 });
    await Promise.all([produce(brokers, users, usersIn), produce(brokers, orders, ordersIn)]);

    const relay = await PgrelayProcess.create(
      kafkaSource('edge', {
        brokers,
        topics: [users],
        topic_pattern: `^${prefix}\\.orders$`,
        group_id: group,
        format: 'pgrelay',
      }) +
        kafkaSink('central', {
          brokers,
          sources: ['edge'],
          topic_map: { 'public.users': usersOut, 'public.orders': ordersOut },
        }),
    );
    processes.push(relay);
    await relay.start();
    await waitForSize(brokers, usersOut, 60_000);
    await waitForSize(brokers, ordersOut, 40_000);
    await waitFor(
      'every offset to be committed',
      async () =>
        (await committedTotal(brokers, group, users)) === 60_000 &&
        (await committedTotal(brokers, group, orders)) === 40_000
          ? true
          : undefined,
      30_000,
    );

    // Everything is committed, so nothing more is coming: the counts are final.
    assert.equal(await topicSize(brokers, usersOut), 60_000);
    assert.equal(await topicSize(brokers, ordersOut), 40_000);
    const [usersOutRead, ordersOutRead] = [
      await readTopic(brokers, usersOut),
      await readTopic(brokers, ordersOut),
    ];
    const events = [...inRowOrder(usersOutRead), ...inRowOrder(ordersOutRead)];
    const relayed = [...usersOutRead, ...ordersOutRead];
    relayed.forEach((message, i) =>
      assert.deepEqual(
        message.headerList,
        [
          ['pgrelay-source', events[i]!.source],
          ['pgrelay-lsn', events[i]!.lsn],
          ['pgrelay-id', events[i]!.id],
        ],
        `offset ${message.offset}: the headers name the event's source, LSN and id`,
      ),
    );
    const seqs = new Set(events.map((e) => e.columns!.seq as number));
    assert.equal(seqs.size, 100_000, 'every message once');
    assert.ok([...seqs].every((s) => s >= 0 && s < 100_000));
    const produced = new Set([...usersIn, ...ordersIn].map((m) => m.value));
    assert.ok(
      relayed.every((m) => produced.has(m.value!)),
      'each event written byte for byte as it was read',
    );

    const stats = await relay.stats();
    assert.equal(stats.sources.edge!.events_in, 100_000);
    assert.equal(stats.sources.edge!.events_out, 100_000);
    assert.deepEqual(stats.sources.edge!.dropped, {});
    assert.equal(stats.sinks.central!.events_out, 100_000);

    const status = await waitFor(
      'the source to report no lag',
      async () => {
        const s = await relay.status();
        return (s.sources.edge!.lag as { messages: number }).messages === 0 ? s : undefined;
      },
      10_000,
    );
    const partitions = status.sources.edge!.partitions as Record<string, { committed: string }>;
    assert.deepEqual(Object.keys(partitions).sort(), [
      `${orders}/0`,
      `${orders}/1`,
      `${users}/0`,
      `${users}/1`,
      `${users}/2`,
      `${users}/3`,
    ]);
    assert.equal(
      Object.values(partitions).reduce((sum, p) => sum + Number(p.committed), 0),
      100_000,
    );
    assert.equal(await relay.stop(), 0);
  });
});
