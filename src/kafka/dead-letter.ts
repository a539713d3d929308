import type { SinkRecord } from '../core/handler.js';
import { BATCH_HEADER_SIZE, type Bytes, bytesBound } from './record-batch.js';

/** A record set aside, and the headers that say why and where it came from. */
export interface DeadLetter {
  record: SinkRecord;
  headers: Record<string, string>;
}

/** Room left for the record's own framing, and for the headers saying what was cut. */
const SLACK = 128;

/**
 * The record a dead letter is written as, on `topic`, in at most `limit` bytes: the original's key,
 * value and headers plus the letter's headers. A value that does not fit is cut, and
 * `pgrelay-truncated` holds its original size in bytes; a key longer than a quarter of the limit is
 * cut as well (`pgrelay-key-truncated`).
 */
export function deadLetterRecord(letter: DeadLetter, topic: string, limit: number): SinkRecord {
  const headers: NonNullable<SinkRecord['headers']> = {
    ...letter.record.headers,
    ...letter.headers,
  };
  let key = letter.record.key;
  const keyBytes = toBuffer(key);
  if (keyBytes !== null && keyBytes.length > limit / 4) {
    headers['pgrelay-key-truncated'] = String(keyBytes.length);
    key = keyBytes.subarray(0, Math.floor(limit / 4));
  }
  let headerBytes = 0;
  for (const [name, value] of Object.entries(headers)) {
    for (const item of Array.isArray(value) ? value : [value])
      headerBytes += 5 + name.length * 3 + bytesBound(item);
  }
  const room = limit - BATCH_HEADER_SIZE - SLACK - bytesBound(key) - headerBytes;
  let value: Bytes = letter.record.value;
  const valueBytes = toBuffer(value);
  if (valueBytes !== null && valueBytes.length + 5 > room) {
    headers['pgrelay-truncated'] = String(valueBytes.length);
    value = valueBytes.subarray(0, Math.max(0, room - 5));
  }
  return { topic, key, value, headers, origin: letter.record.origin };
}

function toBuffer(bytes: Bytes): Buffer | null {
  if (bytes === null) return null;
  return typeof bytes === 'string' ? Buffer.from(bytes, 'utf8') : bytes;
}
