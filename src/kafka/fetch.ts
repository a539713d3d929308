/**
 * Fetch requests sent on @platformatic/kafka's connections, with our own response parser: it keeps
 * each partition's records as one Buffer, walked lazily by `RecordReader` (fetch-records.ts),
 * instead of the library's eager decoding of every record (~3 µs per message more). Written from
 * the Kafka protocol specification (Fetch v13..v17).
 */
import {
  type Connection,
  type Reader,
  fetchV13,
  fetchV14,
  fetchV15,
  fetchV16,
  fetchV17,
} from '@platformatic/kafka';
import { PgRelayError } from '../core/errors.js';

const FETCH_API_KEY = 1;
const REQUEST_WRITERS = {
  13: fetchV13.createRequest,
  14: fetchV14.createRequest,
  15: fetchV15.createRequest,
  16: fetchV16.createRequest,
  17: fetchV17.createRequest,
} as const;
export type FetchVersion = keyof typeof REQUEST_WRITERS;
const LOWEST: FetchVersion = 13;
const HIGHEST: FetchVersion = 17;

/** Only committed records of transactions (aborted ones are filtered out by RecordReader). */
export const READ_COMMITTED = 1;

/** The broker speaks no Fetch version this client parses (v13, Kafka 3.1, and newer). */
export class UnsupportedFetchError extends PgRelayError {
  constructor(message: string) {
    super('PGRELAY_KAFKA_UNSUPPORTED', message);
  }
}

/** One API of a broker's ApiVersions answer (`listApis()`). */
export interface BrokerApi {
  apiKey: number;
  minVersion: number;
  maxVersion: number;
}

/** The Fetch version to use with a broker, from its ApiVersions answer. */
export function fetchVersion(apis: readonly BrokerApi[], where: string): FetchVersion {
  const api = apis.find((a) => a.apiKey === FETCH_API_KEY);
  const version = Math.min(api?.maxVersion ?? -1, HIGHEST);
  if (api === undefined || version < LOWEST || version < api.minVersion) {
    const offered = api === undefined ? 'none' : `v${api.minVersion}..v${api.maxVersion}`;
    throw new UnsupportedFetchError(
      `${where}: the broker offers Fetch ${offered}; pgrelay needs v${LOWEST} or newer (Apache Kafka 3.1 or newer)`,
    );
  }
  return version as FetchVersion;
}

export interface FetchPartitionRequest {
  partition: number;
  fetchOffset: bigint;
  partitionMaxBytes: number;
}

export interface FetchTopicRequest {
  topicId: string;
  partitions: FetchPartitionRequest[];
}

export interface FetchRequest {
  maxWaitMs: number;
  /** Bytes for the whole response; the broker still returns the first batch whole when it is larger. */
  maxBytes: number;
  isolationLevel: number;
  topics: FetchTopicRequest[];
}

export interface AbortedTransaction {
  producerId: bigint;
  firstOffset: bigint;
}

export interface FetchedPartition {
  partition: number;
  /** Kafka's error code for this partition: 0 when records (possibly none) came back. */
  errorCode: number;
  highWatermark: bigint;
  lastStableOffset: bigint;
  logStartOffset: bigint;
  abortedTransactions: AbortedTransaction[] | null;
  /** The partition's record batches as the broker sent them (the last may be cut short), or null. */
  records: Buffer | null;
}

export interface FetchedTopic {
  topicId: string;
  partitions: FetchedPartition[];
}

export interface FetchResponse {
  throttleTimeMs: number;
  errorCode: number;
  topics: FetchedTopic[];
}

/**
 * Fetch response v13..v17 (flexible versions, topics by id): throttle_time_ms, error_code,
 * session_id, then per topic its id and per partition: index, error_code, high_watermark,
 * last_stable_offset, log_start_offset, aborted_transactions, preferred_read_replica, records.
 * Tagged fields (diverging epoch, current leader, node endpoints) are skipped: pgrelay refreshes
 * its metadata instead.
 */
export function parseFetchResponse(
  _correlationId: number,
  _apiKey: number,
  _apiVersion: number,
  reader: Reader,
): FetchResponse {
  const throttleTimeMs = reader.readInt32();
  const errorCode = reader.readInt16();
  reader.readInt32(); // session id: pgrelay sends full fetches, without a session
  const topics = reader.readArray((topic): FetchedTopic => ({
    topicId: topic.readUUID(),
    partitions: topic.readArray((p): FetchedPartition => {
      const partition = p.readInt32();
      const errorCode = p.readInt16();
      const highWatermark = p.readInt64();
      const lastStableOffset = p.readInt64();
      const logStartOffset = p.readInt64();
      const abortedTransactions = p.readNullableArray((a) => ({
        producerId: a.readInt64(),
        firstOffset: a.readInt64(),
      }));
      p.readInt32(); // preferred read replica: pgrelay reads from leaders
      // COMPACT_RECORDS: length + 1, 0 for null. One copy only when the bytes span socket chunks.
      const length = p.readUnsignedVarInt() - 1;
      let records: Buffer | null = null;
      if (length > 0) {
        records = p.buffer.slice(p.position, p.position + length);
        p.skip(length);
      }
      return {
        partition,
        errorCode,
        highWatermark,
        lastStableOffset,
        logStartOffset,
        abortedTransactions,
        records,
      };
    }),
  }));
  reader.readTaggedFields();
  return { throttleTimeMs, errorCode, topics };
}

/** Sends one full (sessionless) Fetch on `connection` and parses the answer with parseFetchResponse. */
export function sendFetch(
  connection: Connection,
  version: FetchVersion,
  request: FetchRequest,
): Promise<FetchResponse> {
  const { promise, resolve, reject } = Promise.withResolvers<FetchResponse>();
  const topics = request.topics.map((topic) => ({
    topicId: topic.topicId,
    partitions: topic.partitions.map((p) => ({
      partition: p.partition,
      fetchOffset: p.fetchOffset,
      partitionMaxBytes: p.partitionMaxBytes,
      currentLeaderEpoch: -1,
      lastFetchedEpoch: -1,
    })),
  }));
  connection.send(
    FETCH_API_KEY,
    version,
    () =>
      REQUEST_WRITERS[version](
        request.maxWaitMs,
        1,
        request.maxBytes,
        request.isolationLevel,
        0,
        -1,
        topics,
        [],
        '',
      ),
    parseFetchResponse,
    true,
    true,
    (error: Error | null | undefined, response: FetchResponse | undefined) => {
      if (error) reject(error);
      else resolve(response!);
    },
  );
  return promise;
}
