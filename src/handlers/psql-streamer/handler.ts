import { createHash } from 'node:crypto';
import type { Handler, SinkRecord } from '../../core/handler.js';
import type { ChangeEvent } from '../../core/event.js';
import { lsnToBigInt } from '../../core/lsn.js';
import { encodeEvent, keyJson } from '../../core/encoding.js';
import { stringifyExact } from '../../core/json.js';
import { PSQL_STREAMER_NO_TIME } from '../../core/psql-streamer.js';

/** psql-streamer's event shape (README "Migrating from psql-streamer"). */
export interface PsqlStreamerEvent {
  Host: string;
  Database: string;
  Table: string;
  Action: string;
  WALPosition: number;
  Timestamp: string;
  UUID: string;
  Columns: Record<string, unknown>;
}

/**
 * Emits psql-streamer's event JSON so its consumers keep working. Unlike psql-streamer, the key is
 * the row's key (a row's changes stay on one partition, in order), and the UUID is derived from
 * the event id: nothing in the output depends on when it is encoded, so a redelivered event is the
 * same message.
 */
export function createPsqlStreamer(): Handler {
  return {
    name: 'psql-streamer',
    process: (events) => events.map((event) => (event.action === 'raw' ? encodeEvent(event) : encode(event))),
  };
}

function encode(event: ChangeEvent): SinkRecord {
  const value: PsqlStreamerEvent = {
    Host: event.host,
    Database: event.database,
    Table: event.table ?? '',
    Action: event.action,
    WALPosition: Number(lsnToBigInt(event.lsn)),
    Timestamp: event.commit_time ?? PSQL_STREAMER_NO_TIME,
    UUID: uuidFromId(event.id),
    Columns: (event.action === 'delete' ? (event.old ?? event.key) : event.columns) ?? {},
  };
  return { key: keyJson(event), value: stringifyExact(value), origin: event };
}

/** A name-based (version 5 layout) UUID of the event id. */
export function uuidFromId(id: string): string {
  const hash = createHash('sha1').update('pgrelay:').update(id).digest();
  hash[6] = (hash[6]! & 0x0f) | 0x50;
  hash[8] = (hash[8]! & 0x3f) | 0x80;
  const hex = hash.subarray(0, 16).toString('hex');
  return `${hex.slice(0, 8)}-${hex.slice(8, 12)}-${hex.slice(12, 16)}-${hex.slice(16, 20)}-${hex.slice(20)}`;
}
