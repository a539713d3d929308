import type { Message } from 'kafkajs';
import type { SinkRecord } from '../../core/handler.js';

/** Per-record framing in a record batch (length, attributes, deltas, header counts), roughly. */
const RECORD_OVERHEAD = 24;

export interface TopicGroup {
  topic: string;
  messages: Message[];
  records: SinkRecord[];
}

export interface DeliveryPlan {
  records: SinkRecord[];
  /** Produce requests, sent one after another. */
  requests: TopicGroup[][];
  next: number;
  bytes: number;
}

export interface Routing {
  topicFor(record: SinkRecord): string | undefined;
  /** A record no topic_map, topic_routes or topic_fallback matches: dropped, and counted here. */
  unmapped(record: SinkRecord): void;
}

/**
 * Routes a delivery's records to topics and cuts them, in order, into produce requests of at most
 * `limit` bytes of real message bytes (the sources' sizes are estimates), so no partition's record
 * batch outgrows what the broker accepts (message.max.bytes, 1 MB by default). A record larger than
 * `limit` goes alone.
 */
export function planRequests(records: SinkRecord[], limit: number, routing: Routing): DeliveryPlan {
  const requests: TopicGroup[][] = [];
  let current = new Map<string, TopicGroup>();
  let currentBytes = 0;
  let bytes = 0;
  for (const record of records) {
    const topic = routing.topicFor(record);
    if (topic === undefined) {
      routing.unmapped(record);
      continue;
    }
    const message = toMessage(record);
    const messageBytes = messageSize(message);
    if (currentBytes > 0 && currentBytes + messageBytes > limit) {
      requests.push([...current.values()]);
      current = new Map();
      currentBytes = 0;
    }
    let group = current.get(topic);
    if (group === undefined) current.set(topic, (group = { topic, messages: [], records: [] }));
    group.messages.push(message);
    group.records.push(record);
    currentBytes += messageBytes;
    bytes += size(record.value) + size(record.key);
  }
  if (current.size > 0) requests.push([...current.values()]);
  return { records, requests, next: 0, bytes };
}

/** The Kafka message for a record: change events carry their source, lsn and id as headers. */
export function toMessage(record: SinkRecord): Message {
  const message: Message = { key: record.key, value: record.value };
  const origin = record.origin;
  if (origin !== undefined && origin.action !== 'raw') {
    message.headers = {
      'pgrelay-source': origin.source,
      'pgrelay-lsn': origin.lsn,
      'pgrelay-id': origin.id,
      ...record.headers,
    };
  } else if (record.headers !== undefined) {
    message.headers = record.headers;
  }
  return message;
}

function messageSize(message: Message): number {
  let total = RECORD_OVERHEAD + size(message.key ?? null) + size(message.value);
  for (const [key, value] of Object.entries(message.headers ?? {})) {
    for (const item of Array.isArray(value) ? value : [value])
      total += Buffer.byteLength(key) + size(item ?? null);
  }
  return total;
}

export function size(value: Buffer | string | null): number {
  if (value === null) return 0;
  return typeof value === 'string' ? Buffer.byteLength(value) : value.length;
}
