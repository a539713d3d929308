import { type ChangeEvent, type RelayEvent, SOURCE_JSON } from './event.js';
import type { SinkRecord } from './handler.js';
import { stringifyExact } from './json.js';
import { ReadEvent } from './read-event.js';

/**
 * The event as JSON (README "Event format"), keyed by its `key` as JSON so every change of a row
 * lands on one partition. Raw relayed messages keep their bytes, key and headers. The passthrough
 * handler, dead letters and other handlers' raw events all encode this way.
 */
export function encodeEvent(event: RelayEvent): SinkRecord {
  if (event.action === 'raw') {
    return { key: event.key, value: event.payload, headers: event.headers, origin: event };
  }
  return { key: keyJson(event), value: stringifyExact(event), origin: event };
}

/**
 * encodeEvent, except that an event read from JSON that nothing changed is written as the bytes it
 * was read from: a relay of pgrelay events spares serialising each one again (measured: JSON.stringify
 * was 1.5 µs of the relay's 16.5 µs per message, writing its text 0.9). Only for events no handler
 * has seen: a handler may change an event in place.
 */
export function encodeUntouchedEvent(event: RelayEvent): SinkRecord {
  if (event.action === 'raw') return encodeEvent(event);
  const json = event[SOURCE_JSON];
  if (json === undefined) return encodeEvent(event);
  // A read event's key as bytes: the sink would turn its text back into them.
  const key = event instanceof ReadEvent ? event.keyBytes() : keyJson(event);
  return { key, value: json, origin: event };
}

/** The message key of an event: its key as JSON, so every change of a row lands on one partition. */
export function keyJson(event: ChangeEvent): string | null {
  if (event instanceof ReadEvent) return event.keyJson();
  return event.key === null ? null : stringifyExact(event.key);
}
