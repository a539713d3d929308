/**
 * The change event: pgrelay's public contract (README "Event format"). Sources produce it, handlers
 * reshape it, sinks serialise it.
 */

import type { JsonText } from './json.js';

/** A column value after type mapping (see README "Value mapping"): JSON-safe and lossless. */
export type Value = null | boolean | number | string | JsonText | Value[] | { [key: string]: Value };

export type Row = Record<string, Value>;

const ACTIONS = ['insert', 'update', 'delete', 'truncate', 'message', 'snapshot'] as const;

export type ChangeAction = (typeof ACTIONS)[number];

/** Every action an event may name: decoders check an event's against it. */
export const CHANGE_ACTIONS: ReadonlySet<string> = new Set<ChangeAction>(ACTIONS);

/** The event's single-valued fields, in the order pgrelay writes them (its rows follow). */
export const EVENT_SCALAR_FIELDS = [
  'id',
  'source',
  'host',
  'database',
  'schema',
  'table',
  'action',
  'lsn',
  'xid',
  'commit_time',
] as const;

/** Every field of the event, in the order pgrelay writes them. */
export const EVENT_FIELDS = [...EVENT_SCALAR_FIELDS, 'key', 'columns', 'old', 'unchanged_toast'] as const;

/**
 * On an event read from a message: that message's JSON, when the event is exactly what it says
 * (nothing was completed). A sink whose chain has no handler, so nothing changed the event since,
 * writes these bytes instead of serialising the event again (core/encoding.ts). A symbol, not
 * enumerable, so JSON.stringify, copies of the event and handlers never see it.
 */
export const SOURCE_JSON: unique symbol = Symbol('pgrelay.sourceJson');

export interface ChangeEvent {
  /** Unique and stable per event: `<commit lsn>:<sequence in transaction>`, so consumers can drop duplicates. */
  id: string;
  source: string;
  host: string;
  database: string;
  schema: string | null;
  table: string | null;
  action: ChangeAction;
  /** The transaction's commit LSN, `X/Y`. */
  lsn: string;
  xid: number | null;
  /** Commit timestamp, ISO 8601 with microseconds, UTC. */
  commit_time: string | null;
  key: Row | null;
  columns: Row | null;
  old: Row | null;
  /** Columns whose unchanged TOAST value the server did not send and pgrelay could not fill in. */
  unchanged_toast: string[];
  [SOURCE_JSON]?: Buffer;
}

/** A Kafka message relayed untouched (Kafka source with `format = "raw"`). */
export interface RawEvent {
  action: 'raw';
  source: string;
  topic: string;
  partition: number;
  offset: string;
  key: Buffer | null;
  payload: Buffer | null;
  /** A header sent more than once keeps every value, in order; a null value stays null. */
  headers: Record<string, Buffer | null | (Buffer | null)[]>;
  timestamp: string;
}

export type RelayEvent = ChangeEvent | RawEvent;

export function isRaw(event: RelayEvent): event is RawEvent {
  return event.action === 'raw';
}

/** What topic maps match against: `schema.table` for changes, the source topic for raw messages. */
export function routingName(event: RelayEvent): string {
  if (isRaw(event)) return event.topic;
  return event.schema === null ? (event.table ?? '') : `${event.schema}.${event.table ?? ''}`;
}
