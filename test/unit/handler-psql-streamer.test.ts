import assert from 'node:assert/strict';
import { describe, it, mock } from 'node:test';
import { pino } from 'pino';
import type { SinkRecord } from '../../src/core/handler.js';
import {
  type PsqlStreamerEvent,
  createPsqlStreamer,
  uuidFromId,
} from '../../src/handlers/psql-streamer/handler.js';
import type { ChangeEvent } from '../../src/core/event.js';
import { createDecoder } from '../../src/sources/kafka/decode.js';
import { EventFactory } from '../../src/sources/postgres/schema/events.js';
import { Table } from '../../src/sources/postgres/schema/table.js';
import { TypeRegistry } from '../../src/sources/postgres/schema/values.js';
import { ChunkConverter } from '../../src/sources/postgres/snapshot/chunks.js';
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

  it('encodes an event byte for byte the same whenever it is encoded: no clock in the output', async () => {
    const events = [
      sampleEvent(),
      // No commit time at all (a logical message outside a transaction): Go's zero time.Time.
      sampleEvent({ action: 'message', table: null, key: null, commit_time: null }),
    ];
    const values = await atTwoTimes(events);
    assert.equal(values[0], values[1]);
    const [committed, timeless] = JSON.parse(values[0]!) as PsqlStreamerEvent[];
    assert.equal(committed!.Timestamp, '2026-11-21T18:12:05.909321Z', 'the commit time');
    assert.equal(timeless!.Timestamp, '0001-01-01T00:00:00Z');
  });

  it('stamps snapshot rows with the time of their snapshot', async () => {
    const table = new Table(
      {
        schema: 'public',
        table: 'users',
        columns: [{ name: 'id', typeOid: 23 }],
        identity: 'd',
        identityColumns: ['id'],
        primaryKey: ['id'],
      },
      new TypeRegistry(),
    );
    const plan = { table, cursorColumns: ['id'], filters: [], rowsPerPage: null };
    const origin = { lsnText: '0/16B3748', xid: null, commitTime: '2026-11-20T09:00:00.123000Z' };
    const converter = new ChunkConverter(
      plan,
      new EventFactory('db1', 'h', 'app'),
      'snapshot:0/16B3748:public.users:',
    );
    const { events } = converter.convert([['7', '7']], origin);
    const values = await atTwoTimes(events);
    assert.equal(values[0], values[1]);
    assert.equal((JSON.parse(values[0]!) as PsqlStreamerEvent[])[0]!.Timestamp, origin.commitTime);
  });

  it('derives the UUID from the event id: the same on redelivery, different per event', () => {
    const uuid = uuidFromId('0/1508468:0');
    assert.match(uuid, /^[0-9a-f]{8}-[0-9a-f]{4}-5[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/);
    assert.equal(uuidFromId('0/1508468:0'), uuid);
    assert.notEqual(uuidFromId('0/1508468:1'), uuid);
  });

  it('an event without a commit time is read back without one', async () => {
    const [record] = await encode({ action: 'message', table: null, key: null, commit_time: null });
    const decoded = createDecoder(
      'psql-streamer',
      'edge',
    )({
      topic: 't',
      partition: 0,
      offset: 0,
      key: null,
      value: Buffer.from(String(record!.value)),
      headers: [],
      timestamp: 0,
    });
    assert.equal((decoded as ChangeEvent).commit_time, null);
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

/** The psql-streamer values of `events` encoded at two different clock times, as JSON arrays. */
async function atTwoTimes(events: ChangeEvent[]): Promise<string[]> {
  mock.timers.enable({ apis: ['Date'], now: Date.parse('2030-01-01T00:00:00Z') });
  try {
    const values: string[] = [];
    for (let i = 0; i < 2; i++) {
      const records = (await createPsqlStreamer().process(events, context)) as SinkRecord[];
      values.push(`[${records.map((r) => String(r.value)).join(',')}]`);
      mock.timers.tick(3_600_000);
    }
    return values;
  } finally {
    mock.timers.reset();
  }
}
