import assert from 'node:assert/strict';
import { after, describe, it } from 'node:test';
import type { ChangeEvent } from '../../src/core/event.js';
import type { PsqlStreamerEvent } from '../../src/handlers/psql-streamer/handler.js';
import { kafkaSink, kafkaSource, table } from '../fixtures/configs.js';
import { relayMessages } from '../fixtures/events.js';
import { readAtLeast } from '../harness/kcat.js';
import { PgrelayProcess } from '../harness/pgrelay.js';
import { sharedKafka } from '../harness/services.js';
import { createTopics, produce, uniqueName } from '../harness/topics.js';

const COUNT = 50;

describe('handlers on the Kafka relay', () => {
  const processes: PgrelayProcess[] = [];
  after(async () => {
    for (const p of processes) await p.destroy();
  });

  async function run(config: string, env: NodeJS.ProcessEnv = {}): Promise<PgrelayProcess> {
    const process = await PgrelayProcess.create(config);
    processes.push(process);
    await process.start({ env });
    return process;
  }

  async function input(prefix: string): Promise<{ brokers: string[]; topic: string }> {
    const brokers = await sharedKafka();
    const topic = `${prefix}.in`;
    await createTopics(brokers, [topic], 2);
    await produce(brokers, topic, relayMessages(COUNT, { rows: 10, extra: { email: 'ann@example.com' } }));
    return { brokers, topic };
  }

  it('enrich adds fields (from the environment too), copies, renames, drops and masks columns', async () => {
    const prefix = uniqueName('enrich');
    const { brokers, topic } = await input(prefix);
    await run(
      kafkaSource('edge', { brokers, topics: [topic], group_id: `${prefix}-group` }) +
        table('handlers.tag', {
          type: 'enrich',
          set: { env: 'prod', region: '${REGION}' },
          from_event: { relayed_from: 'source' },
          rename: { name: 'full_name' },
          copy: { id: 'user_id' },
          drop: ['seq'],
          mask: ['email'],
          mask_with: 'redact',
        }) +
        kafkaSink('central', {
          brokers,
          sources: ['edge'],
          handlers: ['tag', 'passthrough'],
          topic_fallback: `${prefix}.out`,
        }),
      { REGION: 'eu-west-1' },
    );
    const out = await readAtLeast(brokers, `${prefix}.out`, COUNT);
    assert.equal(out.length, COUNT);
    for (const message of out) {
      const event = JSON.parse(message.value!) as ChangeEvent & Record<string, unknown>;
      assert.deepEqual([event.env, event.region, event.relayed_from], ['prod', 'eu-west-1', 'edge-db']);
      assert.deepEqual(Object.keys(event.columns!).sort(), ['email', 'full_name', 'id', 'user_id']);
      assert.equal(event.columns!.user_id, event.columns!.id);
      assert.equal(event.columns!.email, '***');
      assert.equal(event.columns!.full_name, `row ${event.key!.id as string}`);
    }
  });

  it("psql-streamer writes psql-streamer's events, and the Kafka source reads them back", async () => {
    const prefix = uniqueName('psqls');
    const { brokers, topic } = await input(prefix);
    const [legacy, modern] = [`${prefix}.legacy`, `${prefix}.modern`];
    await createTopics(brokers, [legacy], 2);
    await run(
      kafkaSource('edge', { brokers, topics: [topic], group_id: `${prefix}-edge`, format: 'pgrelay' }) +
        kafkaSource('back', {
          brokers,
          topics: [legacy],
          group_id: `${prefix}-back`,
          format: 'psql-streamer',
        }) +
        kafkaSink('old_consumers', {
          brokers,
          sources: ['edge'],
          handlers: ['psql-streamer'],
          topic_fallback: legacy,
        }) +
        kafkaSink('new_consumers', { brokers, sources: ['back'], topic_fallback: modern }),
    );
    const originals = new Map(
      relayMessages(COUNT, { rows: 10 }).map((m) => {
        const event = JSON.parse(m.value) as ChangeEvent;
        return [event.columns!.seq as number, event];
      }),
    );

    const written = await readAtLeast(brokers, legacy, COUNT);
    const uuids = new Map<string, number>();
    for (const message of written) {
      const event = JSON.parse(message.value!) as PsqlStreamerEvent;
      assert.deepEqual(Object.keys(event), [
        'Host',
        'Database',
        'Table',
        'Action',
        'WALPosition',
        'Timestamp',
        'UUID',
        'Columns',
      ]);
      const original = originals.get(event.Columns.seq as number)!;
      assert.equal(message.key, JSON.stringify(original.key), 'keyed by the row, not host:db:table:action');
      assert.deepEqual(
        [event.Host, event.Database, event.Table, event.Action, event.Timestamp],
        [original.host, original.database, 'items', original.action, original.commit_time],
      );
      assert.equal(`0/${event.WALPosition.toString(16).toUpperCase()}`, original.lsn);
      uuids.set(event.UUID, event.Columns.seq as number);
    }
    assert.equal(uuids.size, COUNT, 'one UUID per event');

    const relayed = await readAtLeast(brokers, modern, COUNT);
    assert.equal(relayed.length, COUNT);
    for (const message of relayed) {
      const event = JSON.parse(message.value!) as ChangeEvent;
      const original = originals.get(uuids.get(event.id)!)!;
      assert.deepEqual(event, {
        ...original,
        id: event.id,
        source: 'back',
        schema: null,
        xid: null,
        columns: { ...original.columns, email: 'ann@example.com' },
      });
    }
  });

  it('format raw relays bytes, key and headers untouched, routed by the source topic', async () => {
    const brokers = await sharedKafka();
    const prefix = uniqueName('raw');
    const [topic, out] = [`${prefix}.in`, `${prefix}.out`];
    await createTopics(brokers, [topic], 1);
    await produce(brokers, topic, [
      { key: 'k1', value: '<not-json attr="1"/>', headers: { trace: 'abc', tag: ['first', 'second'] } },
      { key: null, value: '{"UUID": "looks like an event but is relayed as bytes"}' },
      { key: 'gone', value: null },
    ]);
    await run(
      kafkaSource('edge', { brokers, topics: [topic], group_id: `${prefix}-group`, format: 'raw' }) +
        kafkaSink('central', { brokers, sources: ['edge'], topic_map: { [topic]: out } }),
    );
    const relayed = await readAtLeast(brokers, out, 3);
    assert.deepEqual(
      relayed.map((m) => [m.key, m.value, m.headerList]),
      [
        [
          'k1',
          '<not-json attr="1"/>',
          [
            ['trace', 'abc'],
            ['tag', 'first'],
            ['tag', 'second'],
          ],
        ],
        [null, '{"UUID": "looks like an event but is relayed as bytes"}', []],
        ['gone', null, []],
      ],
    );
  });
});
