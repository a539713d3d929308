import type { SourceBatch } from '../../src/core/batch.js';
import type { ChangeEvent, RawEvent } from '../../src/core/event.js';
import type { SourceMessage } from '../../src/sources/kafka/decode.js';

let sequence = 0;

/** An insert into public.users with a unique id; fields overridable. */
export function changeEvent(overrides: Partial<ChangeEvent> = {}): ChangeEvent {
  const n = sequence++;
  return {
    id: `0/16B3748:${n}`,
    source: 'db1',
    host: 'db1.example.com',
    database: 'app',
    schema: 'public',
    table: 'users',
    action: 'insert',
    lsn: '0/16B3748',
    xid: 731,
    commit_time: '2026-11-21T18:12:05.909321Z',
    key: { id: String(n) },
    columns: { id: String(n), name: `user ${n}` },
    old: null,
    unchanged_toast: [],
    ...overrides,
  };
}

export function changeEvents(count: number, overrides: Partial<ChangeEvent> = {}): ChangeEvent[] {
  return Array.from({ length: count }, () => changeEvent(overrides));
}

export function rawEvent(overrides: Partial<RawEvent> = {}): RawEvent {
  return {
    action: 'raw',
    source: 'edge',
    topic: 'cdc.users',
    partition: 2,
    offset: '1041',
    key: Buffer.from('k'),
    payload: Buffer.from('v'),
    headers: {},
    timestamp: '2026-11-21T18:12:05.909Z',
    ...overrides,
  };
}

/** A source batch whose size counts `bytesPerEvent` for each event. */
export function batchOf(events: ChangeEvent[], bytesPerEvent = 100, source = 'db1'): SourceBatch {
  return { source, events, bytes: events.length * bytesPerEvent, originTimeMs: Date.now() };
}

/** The same change event every call (fixed id and values), as the PostgreSQL source makes it; override what a test is about. */
export function sampleEvent(overrides: Partial<ChangeEvent> = {}): ChangeEvent {
  return {
    id: '0/1508468:0',
    source: 'db1',
    host: 'db1.example.com',
    database: 'app',
    schema: 'public',
    table: 'users',
    action: 'insert',
    lsn: '0/1508468',
    xid: 726,
    commit_time: '2026-11-21T18:12:05.909321Z',
    key: { id: '1' },
    columns: { id: '1', name: 'ann', email: 'ann@example.com' },
    old: null,
    unchanged_toast: [],
    ...overrides,
  };
}

/** A consumed Kafka message with `value` (text or bytes) on cdc.users, partition 2, offset 41. */
export function sourceMessage(
  value: string | Buffer | null,
  overrides: Partial<SourceMessage> = {},
): SourceMessage {
  return {
    topic: 'cdc.users',
    partition: 2,
    offset: 41,
    key: null,
    value: typeof value === 'string' ? Buffer.from(value) : value,
    headers: [],
    timestamp: 1795285136000,
    ...overrides,
  };
}
