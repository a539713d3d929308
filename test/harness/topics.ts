import { randomBytes } from 'node:crypto';
import {
  Admin,
  ConfigResourceTypes,
  IncrementalAlterConfigOperationTypes,
  Producer,
  ProduceAcks,
  compatibilityPartitioner,
} from '@platformatic/kafka';
import { waitFor } from './processes.js';

/** A topic or group name no other test uses. */
export function uniqueName(prefix: string): string {
  return `${prefix}-${randomBytes(4).toString('hex')}`;
}

const CLIENT = { clientId: 'pgrelay-test', retries: 3, retryDelay: 250 };

async function withAdmin<T>(brokers: string[], use: (admin: Admin) => Promise<T>): Promise<T> {
  const admin = adminClient(brokers);
  try {
    return await use(admin);
  } finally {
    await admin.close();
  }
}

/** Creates topics with `partitions` partitions (and topic `config`) and waits until their leaders are known. */
export async function createTopics(
  brokers: string[],
  topics: string[],
  partitions = 1,
  config: Record<string, string> = {},
): Promise<void> {
  await withAdmin(brokers, async (admin) => {
    await admin.createTopics({
      topics,
      partitions,
      replicas: 1,
      configs: Object.entries(config).map(([name, value]) => ({ name, value })),
    });
    // Kafka answers a topic it has just created with UNKNOWN_TOPIC_OR_PARTITION or no leader until
    // its metadata settles.
    await waitFor(
      `leaders for ${topics.join(', ')}`,
      async () => {
        const metadata = await admin.metadata({ topics, forceUpdate: true }).catch(() => undefined);
        const ready = topics.every((name) => {
          const topic = metadata?.topics.get(name);
          return topic?.partitionsCount === partitions && topic.partitions.every((p) => p.leader >= 0);
        });
        return ready ? true : undefined;
      },
      30_000,
    );
  });
}

/** Changes topic settings (max.message.bytes...) on the broker, leaving the others as they are. */
export async function alterTopic(
  brokers: string[],
  topic: string,
  config: Record<string, string>,
): Promise<void> {
  await withAdmin(brokers, (admin) =>
    admin.incrementalAlterConfigs({
      resources: [
        {
          resourceType: ConfigResourceTypes.TOPIC,
          resourceName: topic,
          configs: Object.entries(config).map(([name, value]) => ({
            name,
            value,
            configOperation: IncrementalAlterConfigOperationTypes.SET,
          })),
        },
      ],
    }),
  );
}

type Bytes = string | Buffer | null;

/** A message for `produce`; a header given a list is sent once per value, in order. */
export interface TestMessage {
  key?: Bytes;
  value: Bytes;
  partition?: number;
  headers?: Record<string, string | Buffer | (string | Buffer)[]>;
}

function bytes(value: Bytes | undefined): Buffer | undefined {
  return value === null || value === undefined ? (value as undefined) : Buffer.from(value);
}

/** Header names as distinct Buffers: the library writes every entry, so a name can repeat. */
function headerMap(headers: TestMessage['headers']): Map<Buffer, Buffer> | undefined {
  if (headers === undefined) return undefined;
  const map = new Map<Buffer, Buffer>();
  for (const [name, value] of Object.entries(headers)) {
    for (const one of Array.isArray(value) ? value : [value]) map.set(Buffer.from(name), Buffer.from(one));
  }
  return map;
}

/**
 * Produces messages (acks = all), in requests of 1000; keyed messages without a partition go where
 * the Java client's partitioner (murmur2) puts them. Idempotent: the library sends a whole request
 * again when one of its partitions had stale metadata (a topic just created), which would write
 * the partitions that had taken it twice.
 */
export async function produce(brokers: string[], topic: string, messages: TestMessage[]): Promise<void> {
  const producer = new Producer({
    ...CLIENT,
    bootstrapBrokers: brokers,
    acks: ProduceAcks.ALL,
    idempotent: true,
    partitioner: compatibilityPartitioner,
  });
  try {
    for (let i = 0; i < messages.length; i += 1000) {
      await producer.send({
        messages: messages.slice(i, i + 1000).map((m) => ({
          topic,
          key: bytes(m.key),
          value: bytes(m.value) as Buffer,
          headers: headerMap(m.headers),
          ...(m.partition === undefined ? {} : { partition: m.partition }),
        })),
      });
    }
  } finally {
    await producer.close();
  }
}

/** An admin client for a test's (or bench's) own use; close it when done. */
export function adminClient(brokers: string[]): Admin {
  return new Admin({ ...CLIENT, bootstrapBrokers: brokers });
}

/** Each partition's end offset: where the next message written to it will land. */
export async function endOffsets(brokers: string[] | Admin, topic: string): Promise<Map<number, number>> {
  if (Array.isArray(brokers)) return withAdmin(brokers, (admin) => endOffsets(admin, topic));
  const admin = brokers;
  const metadata = await admin.metadata({ topics: [topic], forceUpdate: true });
  const partitions = metadata.topics.get(topic)?.partitionsCount ?? 0;
  const [listed] = await admin.listOffsets({
    topics: [
      {
        name: topic,
        partitions: Array.from({ length: partitions }, (_, p) => ({ partitionIndex: p, timestamp: -1n })),
      },
    ],
  });
  return new Map((listed?.partitions ?? []).map((p) => [p.partitionIndex, Number(p.offset)]));
}

/** Messages a topic holds: the sum of its partitions' end offsets (nothing is deleted in tests). */
export async function topicSize(brokers: string[] | Admin, topic: string): Promise<number> {
  return [...(await endOffsets(brokers, topic)).values()].reduce((sum, end) => sum + end, 0);
}

/** Waits until `topic` holds at least `count` messages (cheap: reads end offsets, not messages). */
export async function waitForSize(
  brokers: string[],
  topic: string,
  count: number,
  timeoutMs = 120_000,
): Promise<number> {
  let size = 0;
  return waitFor(
    () => `${count} messages on topic ${topic} (it holds ${size})`,
    async () => {
      size = await topicSize(brokers, topic);
      return size >= count ? size : undefined;
    },
    timeoutMs,
  );
}

/** A consumer group's committed offset per partition of `topic` (-1: none yet). */
export async function committedOffsets(
  brokers: string[],
  groupId: string,
  topic: string,
): Promise<Map<number, number>> {
  return withAdmin(brokers, async (admin) => {
    const [group] = await admin.listConsumerGroupOffsets({ groups: [groupId] });
    const listed = group?.topics.find((t) => t.name === topic);
    return new Map((listed?.partitions ?? []).map((p) => [p.partitionIndex, Number(p.committedOffset)]));
  });
}
