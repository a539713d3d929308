import { randomBytes } from 'node:crypto';
import kafkajs, { type Admin, type Message } from 'kafkajs';
import { waitFor } from './processes.js';

const { ConfigResourceTypes, Kafka, logLevel } = kafkajs;

/** A topic or group name no other test uses. */
export function uniqueName(prefix: string): string {
  return `${prefix}-${randomBytes(4).toString('hex')}`;
}

function client(brokers: string[]) {
  return new Kafka({ brokers, clientId: 'pgrelay-test', logLevel: logLevel.NOTHING });
}

async function withAdmin<T>(brokers: string[], use: (admin: Admin) => Promise<T>): Promise<T> {
  const admin = client(brokers).admin();
  await admin.connect();
  try {
    return await use(admin);
  } finally {
    await admin.disconnect();
  }
}

/** Creates topics with `partitions` partitions (and topic `config`) and waits until their leaders are known. */
export async function createTopics(
  brokers: string[],
  topics: string[],
  partitions = 1,
  config: Record<string, string> = {},
): Promise<void> {
  const configEntries = Object.entries(config).map(([name, value]) => ({ name, value }));
  await withAdmin(brokers, async (admin) => {
    // kafkajs's own waitForLeaders retries only LEADER_NOT_AVAILABLE; Kafka 4 answers a topic it has
    // just created with UNKNOWN_TOPIC_OR_PARTITION until its metadata settles, so wait here.
    await admin.createTopics({
      topics: topics.map((topic) => ({
        topic,
        numPartitions: partitions,
        replicationFactor: 1,
        configEntries,
      })),
      waitForLeaders: false,
    });
    await waitFor(
      `leaders for ${topics.join(', ')}`,
      async () => {
        const { topics: metadata } = await admin.fetchTopicMetadata({ topics });
        return metadata.every(
          (t) => t.partitions.length === partitions && t.partitions.every((p) => p.leader >= 0),
        )
          ? true
          : undefined;
      },
      30_000,
    );
  });
}

/** Changes topic settings (max.message.bytes...) on the broker. */
export async function alterTopic(
  brokers: string[],
  topic: string,
  config: Record<string, string>,
): Promise<void> {
  await withAdmin(brokers, (admin) =>
    admin.alterConfigs({
      validateOnly: false,
      resources: [
        {
          type: ConfigResourceTypes.TOPIC,
          name: topic,
          configEntries: Object.entries(config).map(([name, value]) => ({ name, value })),
        },
      ],
    }),
  );
}

/**
 * Produces messages (acks = all), in requests of 1000. Idempotent: on a loaded machine a request can
 * time out although the broker wrote it, and its retry would otherwise write the messages twice.
 */
export async function produce(brokers: string[], topic: string, messages: Message[]): Promise<void> {
  const producer = client(brokers).producer({
    allowAutoTopicCreation: false,
    idempotent: true,
    // An idempotent producer retries forever unless told otherwise; as many as a plain one.
    retry: { retries: 5 },
  });
  await producer.connect();
  try {
    for (let i = 0; i < messages.length; i += 1000) {
      await producer.send({ topic, acks: -1, messages: messages.slice(i, i + 1000) });
    }
  } finally {
    await producer.disconnect();
  }
}

/** Each partition's end offset: where the next message written to it will land. */
export async function endOffsets(brokers: string[], topic: string): Promise<Map<number, number>> {
  return withAdmin(
    brokers,
    async (admin) =>
      new Map((await admin.fetchTopicOffsets(topic)).map((p) => [p.partition, Number(p.high)])),
  );
}

/** Messages a topic holds: the sum of its partitions' end offsets (nothing is deleted in tests). */
export async function topicSize(brokers: string[], topic: string): Promise<number> {
  return [...(await endOffsets(brokers, topic)).values()].reduce((sum, high) => sum + high, 0);
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
    const [result] = await admin.fetchOffsets({ groupId, topics: [topic] });
    return new Map((result?.partitions ?? []).map((p) => [p.partition, Number(p.offset)]));
  });
}
