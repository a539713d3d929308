import { type RecordHeader, type RecordReader, readHeaders } from '../../kafka/fetch-records.js';
import type { SourceMessage } from './decode.js';

/**
 * The record a RecordReader stands on, as a SourceMessage. Headers are read only when asked for:
 * pgrelay and psql-streamer events never need them, raw messages and dead letters do.
 */
export class FetchedMessage implements SourceMessage {
  readonly offset: number;
  readonly timestamp: number;
  readonly key: Buffer | null;
  readonly value: Buffer | null;
  private readonly data: Buffer;
  private readonly headersStart: number;
  private readonly headerCount: number;

  constructor(
    readonly topic: string,
    readonly partition: number,
    reader: RecordReader,
  ) {
    this.offset = reader.offset;
    this.timestamp = reader.timestamp;
    this.key = reader.key();
    this.value = reader.value();
    this.data = reader.data;
    this.headersStart = reader.headersStart;
    this.headerCount = reader.headerCount;
  }

  get headers(): RecordHeader[] {
    return readHeaders(this.data, this.headersStart, this.headerCount);
  }
}
