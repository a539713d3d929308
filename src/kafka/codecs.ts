import { promisify } from 'node:util';
import zlib from 'node:zlib';
import kafkajs from 'kafkajs';

const { CompressionCodecs, CompressionTypes } = kafkajs;
import SnappyCodec from 'kafkajs-snappy';
import lz4 from 'lz4js';
import xxh from 'lz4js/xxh32.js';

interface Codec {
  compress(encoder: { buffer: Buffer }): Promise<Buffer>;
  decompress(buffer: Buffer): Promise<Buffer>;
}

const xxh32 = xxh.hash;
const zstdCompress = promisify(zlib.zstdCompress);
const zstdDecompress = promisify(zlib.zstdDecompress);

const zstd = (): Codec => ({
  compress: (encoder) => zstdCompress(encoder.buffer),
  decompress: (buffer) => zstdDecompress(buffer),
});

const LZ4_MAGIC = 0x184d2204;
const LZ4_BLOCK = 64 * 1024;
/** FLG: version 01, independent blocks (Kafka's broker rejects dependent ones). BD: 64 KB blocks. */
const LZ4_FLG = 0x60;
const LZ4_BD = 0x40;

/**
 * An LZ4 frame as Kafka's Java client writes it. lz4js's own frames declare dependent blocks,
 * which brokers refuse, so blocks are compressed here one by one with a fresh match table.
 */
export function lz4Compress(input: Buffer): Buffer {
  const header = Buffer.from([0, 0, 0, 0, LZ4_FLG, LZ4_BD, 0]);
  header.writeUInt32LE(LZ4_MAGIC, 0);
  header[6] = (xxh32(0, header, 4, 2) >> 8) & 0xff;
  const parts: Buffer[] = [header];
  const scratch = Buffer.alloc(lz4.compressBound(LZ4_BLOCK));
  for (let start = 0; start < input.length; start += LZ4_BLOCK) {
    const length = Math.min(LZ4_BLOCK, input.length - start);
    const size = lz4.compressBlock(input, scratch, start, length, new Uint32Array(1 << 16));
    const prefix = Buffer.alloc(4);
    if (size === 0 || size >= length) {
      prefix.writeUInt32LE((0x80000000 | length) >>> 0, 0);
      parts.push(prefix, input.subarray(start, start + length));
    } else {
      prefix.writeUInt32LE(size, 0);
      parts.push(prefix, Buffer.from(scratch.subarray(0, size)));
    }
  }
  parts.push(Buffer.alloc(4));
  return Buffer.concat(parts);
}

const lz4Frame = (): Codec => ({
  compress: (encoder) => Promise.resolve(lz4Compress(encoder.buffer)),
  decompress: (buffer) => Promise.resolve(Buffer.from(lz4.decompress(buffer))),
});

let registered = false;

/**
 * kafkajs ships gzip only; snappy (pure JS), lz4 (pure JS) and zstd (Node's zlib) are registered
 * here, so every compression a producer may use can also be read by the Kafka source.
 */
export function registerCodecs(): void {
  if (registered) return;
  registered = true;
  const codecs = CompressionCodecs as unknown as Record<number, () => Codec>;
  codecs[CompressionTypes.Snappy] = SnappyCodec as () => Codec;
  codecs[CompressionTypes.LZ4] = lz4Frame;
  codecs[CompressionTypes.ZSTD] = zstd;
}

export const COMPRESSION = {
  none: CompressionTypes.None,
  gzip: CompressionTypes.GZIP,
  snappy: CompressionTypes.Snappy,
  lz4: CompressionTypes.LZ4,
  zstd: CompressionTypes.ZSTD,
} as const;
