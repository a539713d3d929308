import { PgRelayError } from '../../core/errors.js';
import {
  CHANGE_ACTIONS,
  type ChangeAction,
  type ChangeEvent,
  type RawEvent,
  type RelayEvent,
  type Row,
  SOURCE_JSON,
} from '../../core/event.js';
import { formatLsn, isLsn } from '../../core/lsn.js';
import { parseJsonExact } from '../../core/json.js';
import { CompleteEventReader } from './read-complete.js';
import { PSQL_STREAMER_NO_TIME } from '../../core/psql-streamer.js';
import type { RecordHeader } from '../../kafka/fetch-records.js';
import type { KafkaSourceConfig } from './config.js';

export type MessageFormat = KafkaSourceConfig['format'];

/** One consumed Kafka message, as much of it as decoding and dead letters need. */
export interface SourceMessage {
  readonly topic: string;
  readonly partition: number;
  readonly offset: number;
  readonly key: Buffer | null;
  readonly value: Buffer | null;
  /** Every header in order: a name may repeat, a value may be null. */
  readonly headers: readonly RecordHeader[];
  /** Produce (or log-append) time, ms since epoch. */
  readonly timestamp: number;
}

/** A message that is not an event in the configured format; it is dead-lettered or dropped, never relayed. */
export class UndecodableMessageError extends PgRelayError {
  constructor(reason: string) {
    super('PGRELAY_KAFKA_UNDECODABLE', reason);
  }
}

export type Decoder = (message: SourceMessage) => RelayEvent;

const utf8 = new TextDecoder('utf-8', { fatal: true });

/** The decoder for a source's `format`; `source` names raw events and events that do not name their own. */
export function createDecoder(format: MessageFormat, source: string): Decoder {
  switch (format) {
    case 'raw':
      return (message) => rawEvent(message, source);
    case 'pgrelay': {
      const reader = new CompleteEventReader();
      return (message) => reader.read(message.value) ?? pgrelayEvent(parseObject(message), message, source);
    }
    case 'psql-streamer':
      return (message) => psqlStreamerEvent(parseObject(message), message, source);
    case 'auto': {
      const reader = new CompleteEventReader();
      return (message) => {
        const read = reader.read(message.value);
        if (read !== undefined) return read;
        const object = parseObject(message);
        return isPsqlStreamerShape(object)
          ? psqlStreamerEvent(object, message, source)
          : pgrelayEvent(object, message, source);
      };
    }
  }
}

/** A message's headers by name: a name sent more than once gets the list of its values, in order. */
export function headersByName(message: SourceMessage): RawEvent['headers'] {
  const headers: RawEvent['headers'] = {};
  for (const [name, value] of message.headers) {
    const earlier = headers[name];
    if (earlier === undefined) headers[name] = value;
    else if (Array.isArray(earlier)) earlier.push(value);
    else headers[name] = [earlier, value];
  }
  return headers;
}

function rawEvent(message: SourceMessage, source: string): RawEvent {
  const headers = headersByName(message);
  return {
    action: 'raw',
    source,
    topic: message.topic,
    partition: message.partition,
    offset: String(message.offset),
    key: message.key,
    payload: message.value,
    headers,
    timestamp: String(message.timestamp),
  };
}

type JsonObject = Record<string, unknown>;

function parseObject(message: SourceMessage): JsonObject {
  if (message.value === null || message.value.length === 0) {
    throw new UndecodableMessageError('empty message (no value): not an event');
  }
  let text: string;
  try {
    text = utf8.decode(message.value);
  } catch {
    throw new UndecodableMessageError('value is not valid UTF-8: not a JSON event');
  }
  let parsed: unknown;
  try {
    parsed = parseJsonExact(text);
  } catch (error) {
    throw new UndecodableMessageError(`value is not JSON: ${(error as Error).message}`);
  }
  if (!isObject(parsed)) throw new UndecodableMessageError('value is JSON but not an object: not an event');
  return parsed;
}

function isObject(value: unknown): value is JsonObject {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

/** psql-streamer writes PascalCase fields and always `UUID` and `Columns`; pgrelay writes lower-case ones. */
function isPsqlStreamerShape(object: JsonObject): boolean {
  return 'UUID' in object || 'Columns' in object;
}

/** Reads fields of one event, naming the first one that is missing or of the wrong type. */
class Fields {
  constructor(
    private readonly object: JsonObject,
    private readonly shape: string,
  ) {}

  private fail(name: string, expected: string): never {
    const present = name in this.object;
    throw new UndecodableMessageError(
      `not a ${this.shape} event: ${present ? `field "${name}" is not ${expected}` : `missing field "${name}"`}`,
    );
  }

  string(name: string): string {
    const value = this.object[name];
    return typeof value === 'string' ? value : this.fail(name, 'a string');
  }

  optionalString(name: string, fallback: string | null): string | null {
    const value = this.object[name];
    if (value === undefined) return fallback;
    return typeof value === 'string' || value === null ? value : this.fail(name, 'a string or null');
  }

  nullableString(name: string): string | null {
    const value = this.object[name];
    return typeof value === 'string' || value === null ? value : this.fail(name, 'a string or null');
  }

  row(name: string): Row | null {
    const value = this.object[name];
    return isObject(value) || value === null ? (value as Row | null) : this.fail(name, 'an object or null');
  }

  optionalRow(name: string): Row | null {
    return this.object[name] === undefined ? null : this.row(name);
  }

  action(name: string, normalise: (text: string) => string = (t) => t): ChangeAction {
    const value = this.object[name];
    const action = typeof value === 'string' ? normalise(value) : undefined;
    return action !== undefined && CHANGE_ACTIONS.has(action)
      ? (action as ChangeAction)
      : this.fail(name, `one of ${[...CHANGE_ACTIONS].join(', ')}`);
  }
}

/** The fields pgrelayEvent() fills in when an event lacks them, besides source, host and database. */
const COMPLETED_FIELDS = ['xid', 'commit_time', 'key', 'old', 'unchanged_toast'];
const OPENING_BRACE = 0x7b;
const CLOSING_BRACE = 0x7d;

/**
 * An event as pgrelay writes it (README "Event format"). Fields beyond the contract (added by an
 * upstream enrich handler) are kept, so a relay hop does not strip them; `id` and `source` stay
 * as the upstream wrote them, so consumers keep deduplicating across hops.
 */
function pgrelayEvent(object: JsonObject, message: SourceMessage, source: string): ChangeEvent {
  const fields = new Fields(object, 'pgrelay');
  fields.string('id');
  const lsn = fields.string('lsn');
  if (!isLsn(lsn)) throw new UndecodableMessageError(`not a pgrelay event: field "lsn" is not X/Y: "${lsn}"`);
  fields.nullableString('schema');
  fields.nullableString('table');
  fields.action('action');
  fields.row('columns');
  const xid = object.xid ?? null;
  if (xid !== null && typeof xid !== 'number')
    throw new UndecodableMessageError('not a pgrelay event: field "xid" is not a number or null');
  const toast = object.unchanged_toast ?? [];
  if (!Array.isArray(toast) || !toast.every((c) => typeof c === 'string'))
    throw new UndecodableMessageError(
      'not a pgrelay event: field "unchanged_toast" is not a list of column names',
    );
  const complete =
    typeof object.source === 'string' &&
    typeof object.host === 'string' &&
    typeof object.database === 'string' &&
    COMPLETED_FIELDS.every((field) => field in object);
  // The parsed object is ours: completing it in place spares a copy of every event.
  object.source = fields.optionalString('source', source) ?? source;
  object.host = fields.optionalString('host', '') ?? '';
  object.database = fields.optionalString('database', '') ?? '';
  object.xid = xid;
  object.commit_time = fields.optionalString('commit_time', null);
  object.key = fields.optionalRow('key');
  object.old = fields.optionalRow('old');
  object.unchanged_toast = toast;
  const event = object as unknown as ChangeEvent;
  // Written as read only when completing changed nothing and the text is the object alone (no
  // byte-order mark or spacing around it).
  const value = message.value!;
  if (complete && value[0] === OPENING_BRACE && value[value.length - 1] === CLOSING_BRACE)
    // Not enumerable: a copy of the event ({...event}) or a comparison of events leaves it out.
    Object.defineProperty(event, SOURCE_JSON, { value });
  return event;
}

/**
 * psql-streamer's event (README "Migrating from psql-streamer") as a pgrelay event: `UUID` becomes
 * the id, `WALPosition` the LSN, `Timestamp` the commit time (UTC, microseconds; Go's zero time:
 * none); the table has no schema. psql-streamer carries no row key; pgrelay's psql-streamer
 * handler writes the key as the message key, so a JSON-object message key is taken as the event key.
 */
function psqlStreamerEvent(object: JsonObject, message: SourceMessage, source: string): ChangeEvent {
  const fields = new Fields(object, 'psql-streamer');
  const id = fields.string('UUID');
  const table = fields.string('Table');
  const action = fields.action('Action', (text) => text.toLowerCase());
  const position = object.WALPosition;
  if (typeof position !== 'number' || !Number.isSafeInteger(position) || position < 0) {
    throw new UndecodableMessageError(
      `not a psql-streamer event: ${'WALPosition' in object ? 'field "WALPosition" is not a non-negative integer' : 'missing field "WALPosition"'}`,
    );
  }
  const timestamp = fields.string('Timestamp');
  const commitTime = timestamp === PSQL_STREAMER_NO_TIME ? null : utcMicros(timestamp);
  if (commitTime === undefined) {
    throw new UndecodableMessageError(
      `not a psql-streamer event: field "Timestamp" is not an RFC 3339 time: "${timestamp}"`,
    );
  }
  const columns = fields.row('Columns');
  return {
    id,
    source,
    host: fields.optionalString('Host', '') ?? '',
    database: fields.optionalString('Database', '') ?? '',
    schema: null,
    table,
    action,
    lsn: formatLsn(BigInt(position)),
    xid: null,
    commit_time: commitTime,
    key: keyRow(message.key),
    // psql-streamer puts a deleted row's identity in Columns; pgrelay's contract has it in `old`.
    columns: action === 'delete' ? null : columns,
    old: action === 'delete' ? columns : null,
    unchanged_toast: [],
  };
}

function keyRow(key: Buffer | null): Row | null {
  if (key === null) return null;
  try {
    const parsed = parseJsonExact(utf8.decode(key));
    return isObject(parsed) ? parsed : null;
  } catch {
    return null;
  }
}

const RFC3339 =
  /^(\d{4})-(\d{2})-(\d{2})[Tt ](\d{2}):(\d{2}):(\d{2})(?:\.(\d+))?(?:([Zz])|([+-])(\d{2}):(\d{2}))$/;

/**
 * An RFC 3339 time (psql-streamer writes nanoseconds and a local offset) in pgrelay's form: UTC with
 * six fractional digits. Parsed by hand because Date keeps only milliseconds.
 */
export function utcMicros(text: string): string | undefined {
  const match = RFC3339.exec(text);
  if (!match) return undefined;
  const [, year, month, day, hour, minute, second, fraction = '', , sign, offsetHours, offsetMinutes] = match;
  const local = Date.UTC(
    Number(year),
    Number(month) - 1,
    Number(day),
    Number(hour),
    Number(minute),
    Number(second),
  );
  const check = new Date(local);
  // Date.UTC rolls 2026-02-30 over into March; a time that does not read back the same is not a time.
  if (
    Number(year) < 100 ||
    check.getUTCMonth() !== Number(month) - 1 ||
    check.getUTCDate() !== Number(day) ||
    check.getUTCHours() !== Number(hour) ||
    check.getUTCMinutes() !== Number(minute) ||
    check.getUTCSeconds() !== Number(second)
  )
    return undefined;
  const offset =
    sign === undefined ? 0 : (sign === '-' ? -1 : 1) * (Number(offsetHours) * 60 + Number(offsetMinutes));
  const date = new Date(local - offset * 60_000);
  return `${date.toISOString().slice(0, 19)}.${fraction.padEnd(6, '0').slice(0, 6)}Z`;
}
