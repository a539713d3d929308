declare module 'kafkajs-snappy' {
  const codec: () => unknown;
  export default codec;
}

declare module 'lz4js' {
  export function compressBound(length: number): number;
  export function compressBlock(
    source: Uint8Array,
    target: Uint8Array,
    start: number,
    length: number,
    hashTable: Uint32Array,
  ): number;
  export function decompress(source: Uint8Array): Uint8Array;
}

declare module 'lz4js/xxh32.js' {
  export function hash(seed: number, source: Uint8Array, start: number, length: number): number;
}
