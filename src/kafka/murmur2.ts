/**
 * The Java client's default partitioner for keyed records: murmur2 of the key bytes
 * (org.apache.kafka.common.utils.Utils.murmur2, seed 0x9747b28c), made positive, modulo the
 * partition count. Written from the algorithm with 32-bit Math.imul arithmetic.
 */
const SEED = 0x9747b28c;
const M = 0x5bd1e995;

/** murmur2 of bytes [start, end) of `bytes`, as a signed 32-bit int (what Java's Utils.murmur2 returns). */
export function murmur2(bytes: Uint8Array, start = 0, end = bytes.length): number {
  const length = end - start;
  let h = SEED ^ length;
  const stop = start + (length & ~3);
  let i = start;
  for (; i < stop; i += 4) {
    let k = bytes[i]! | (bytes[i + 1]! << 8) | (bytes[i + 2]! << 16) | (bytes[i + 3]! << 24);
    k = Math.imul(k, M);
    k ^= k >>> 24;
    k = Math.imul(k, M);
    h = Math.imul(h, M) ^ k;
  }
  const tail = length & 3;
  if (tail > 0) {
    if (tail === 3) h ^= bytes[stop + 2]! << 16;
    if (tail >= 2) h ^= bytes[stop + 1]! << 8;
    h ^= bytes[stop]!;
    h = Math.imul(h, M);
  }
  h ^= h >>> 13;
  h = Math.imul(h, M);
  h ^= h >>> 15;
  return h | 0;
}

/** The partition the Java client's default partitioner picks for a key (Utils.toPositive(murmur2) % n). */
export function keyPartition(bytes: Uint8Array, start: number, end: number, partitions: number): number {
  return (murmur2(bytes, start, end) & 0x7fffffff) % partitions;
}
