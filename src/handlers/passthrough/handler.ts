import { encodeEvent } from '../../core/encoding.js';
import type { Handler } from '../../core/handler.js';

/** Events as pgrelay JSON (core/encoding.ts): the last handler of every sink's chain. */
export function createPassthrough(): Handler {
  return { name: 'passthrough', process: (events) => events.map(encodeEvent) };
}
