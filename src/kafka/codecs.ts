import { promisify } from 'node:util';
import zlib from 'node:zlib';
import kafkajs from 'kafkajs';

const { CompressionCodecs, CompressionTypes } = kafkajs;
import SnappyCodec from 'kafkajs-snappy';
import lz4 from 'lz4js';

interface Codec {
  compress(encoder: { buffer: Buffer }): Promise<Buffer>;
  decompress(buffer: Buffer): Promise<Buffer>;
}

const zstdCompress = promisify(zlib.zstdCompress);
const zstdDecompress = promisify(zlib.zstdDecompress);

const zstd = (): Codec => ({
  compress: (encoder) => zstdCompress(encoder.buffer),
  decompress: (buffer) => zstdDecompress(buffer),
});

/** LZ4 frame format, as Kafka uses it. */
const lz4Frame = (): Codec => ({
  compress: (encoder) => Promise.resolve(Buffer.from(lz4.compress(encoder.buffer))),
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
