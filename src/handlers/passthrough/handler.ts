import { encodeEvent, encodeUntouchedEvent } from '../../core/encoding.js';
import type { Handler } from '../../core/handler.js';

/**
 * Events as pgrelay JSON (core/encoding.ts): the last handler of every sink's chain. `untouched`: the
 * events come straight from the sources (no handler before it), so one read from JSON and not
 * changed is written as read.
 */
export function createPassthrough({ untouched = false } = {}): Handler {
  const encode = untouched ? encodeUntouchedEvent : encodeEvent;
  return { name: 'passthrough', process: (events) => events.map(encode) };
}
