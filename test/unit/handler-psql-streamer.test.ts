import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { pino } from 'pino';
import type { SinkRecord } from '../../src/core/handler.js';
import {
  type PsqlStreamerEvent,
  createPsqlStreamer,
  uuidFromId,
} from '../../src/handlers/psql-streamer/handler.js';
import { createDecoder } from '../../src/sources/kafka/decode.js';
import { sampleEvent } from '../helpers/events.js';

const context = { sink: 'main', log: pino({ level: 'silent' }) };

async function encode(...events: Parameters<typeof sampleEvent>[0][]): Promise<SinkRecord[]> {
  return (await createPsqlStreamer().process(events.map(sampleEvent), context)) as SinkRecord[];
}

function parse(record: SinkRecord): PsqlStreamerEvent {
  return JSON.parse(String(record.value)) as PsqlStreamerEvent;
}

describe('psql-streamer handler', () => {
  it("emits psql-streamer's event shape, keyed by the row key", async () => {
    const [record] = await encode({});
    assert.equal(record!.key, '{"id":"1"}');
    assert.deepEqual(parse(record!), {
      Host: 'db1.example.com',
      Database: 'app',
      Table: 'users',
      Action: 'insert',
      WALPosition: 0x1508468,
      Timestamp: '2026-11-21T18:12:05.909321Z',
      UUID: uuidFromId('0/1508468:0'),
      Columns: { id: '1', name: 'ann', email: 'ann@example.com' },
    });
  });

  it('puts a delete’s old row (or key) in Columns', async () => {
    const [full, keyOnly] = await encode(
      { action: 'delete', columns: null, old: { id: '1', name: 'ann' } },
      { action: 'delete', columns: null, old: null },
    );
    assert.deepEqual(parse(full!).Columns, { id: '1', name: 'ann' });
    assert.deepEqual(parse(keyOnly!).Columns, { id: '1' });
  });

  it('derives the UUID from the event id: the same on redelivery, different per event', () => {
    const uuid = uuidFromId('0/1508468:0');
    assert.match(uuid, /^[0-9a-f]{8}-[0-9a-f]{4}-5[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/);
    assert.equal(uuidFromId('0/1508468:0'), uuid);
    assert.notEqual(uuidFromId('0/1508468:1'), uuid);
  });

  it('is read back by the Kafka source (format psql-streamer) as the same change', async () => {
    const [record] = await encode({ action: 'update' });
    const decoded = createDecoder(
      'psql-streamer',
      'edge',
    )({
      topic: 't',
      partition: 0,
      offset: 0,
      key: Buffer.from(String(record!.key)),
      value: Buffer.from(String(record!.value)),
      headers: [],
      timestamp: 0,
    });
    const original = sampleEvent({ action: 'update' });
    assert.deepEqual(decoded, {
      ...original,
      id: uuidFromId(original.id),
      source: 'edge',
      schema: null,
      xid: null,
    });
  });
});
