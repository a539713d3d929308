import type { RelayEvent } from './event.js';
import type { SinkRecord } from './handler.js';
import { stringifyExact } from './json.js';

/**
 * The event as JSON (README "Event format"), keyed by its `key` as JSON so every change of a row
 * lands on one partition. Raw relayed messages keep their bytes, key and headers. The passthrough
 * handler, dead letters and other handlers' raw events all encode this way.
 */
export function encodeEvent(event: RelayEvent): SinkRecord {
  if (event.action === 'raw') {
    return { key: event.key, value: event.payload, headers: event.headers, origin: event };
  }
  return {
    key: event.key === null ? null : stringifyExact(event.key),
    value: stringifyExact(event),
    origin: event,
  };
}
