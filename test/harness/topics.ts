import { randomBytes } from 'node:crypto';
import kafkajs, { type Admin, type Message } from 'kafkajs';

const { Kafka, logLevel } = kafkajs;

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

/** Creates topics with `partitions` partitions and waits until their leaders are known. */
export async function createTopics(brokers: string[], topics: string[], partitions = 1): Promise<void> {
  await withAdmin(brokers, (admin) =>
    admin.createTopics({
      topics: topics.map((topic) => ({ topic, numPartitions: partitions, replicationFactor: 1 })),
      waitForLeaders: true,
    }),
  );
}

/** Produces messages (acks = all), in requests of 1000. */
export async function produce(brokers: string[], topic: string, messages: Message[]): Promise<void> {
  const producer = client(brokers).producer({ allowAutoTopicCreation: false });
  await producer.connect();
  try {
    for (let i = 0; i < messages.length; i += 1000) {
      await producer.send({ topic, acks: -1, messages: messages.slice(i, i + 1000) });
    }
  } finally {
    await producer.disconnect();
  }
}

/** Messages a topic holds: the sum of its partitions' end offsets (nothing is deleted in tests). */
export async function topicSize(brokers: string[], topic: string): Promise<number> {
  return withAdmin(brokers, async (admin) =>
    (await admin.fetchTopicOffsets(topic)).reduce((sum, p) => sum + Number(p.high), 0),
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
