import { Admin, ConfigResourceTypes } from '@platformatic/kafka';
import { type KafkaConnection, clientOptions } from './client.js';
import { protocolError } from './errors.js';

/** The broker's default message.max.bytes: what a topic accepts when nothing says otherwise. */
export const DEFAULT_MAX_MESSAGE_BYTES = 1048588;

/** How pgrelay creates a topic that does not exist: partitions, replicas and topic configs. */
export interface TopicSettings {
  /** Undefined: the broker's num.partitions. */
  partitions?: number;
  /** Undefined: the broker's default.replication.factor. */
  replicationFactor?: number;
  /** Topic configs by their Kafka names (retention.ms, cleanup.policy...). */
  configs: Record<string, string>;
}

/**
 * The cold side of producing: what a topic accepts, and creating topics. An admin client of its
 * own, connected only when needed.
 */
export class TopicAdmin {
  private admin: Admin | undefined;

  constructor(private readonly connection: KafkaConnection) {}

  /** The topic's max.message.bytes (its own or the broker's default); undefined when the broker will not say. */
  async maxMessageBytes(topic: string): Promise<number | undefined> {
    try {
      const [description] = await this.client().describeConfigs({
        resources: [
          {
            resourceType: ConfigResourceTypes.TOPIC,
            resourceName: topic,
            configurationKeys: ['max.message.bytes'],
          },
        ],
      });
      const value = description?.configs.find((c) => c.name === 'max.message.bytes')?.value;
      const bytes = Number(value);
      return value !== null && value !== undefined && Number.isSafeInteger(bytes) && bytes > 0
        ? bytes
        : undefined;
    } catch {
      // No DescribeConfigs permission, or a broker that does not answer it: the sink learns the
      // limit from the first batch the broker refuses as too large instead.
      return undefined;
    }
  }

  /**
   * The topics the cluster has; undefined when it will not say. Asking for every topic, unlike
   * asking for a missing one (which the client retries for seconds before it answers "unknown").
   */
  async existingTopics(): Promise<Set<string> | undefined> {
    try {
      return new Set(await this.client().listTopics());
    } catch {
      return undefined;
    }
  }

  /**
   * Whether the brokers create a topic when it is first written to (auto.create.topics.enable, as
   * the first broker of the metadata says); undefined when they will not say.
   */
  async brokerCreatesTopics(): Promise<boolean | undefined> {
    try {
      const admin = this.client();
      const [broker] = (await admin.metadata({ topics: [] })).brokers.keys();
      if (broker === undefined) return undefined;
      const [description] = await admin.describeConfigs({
        resources: [
          {
            resourceType: ConfigResourceTypes.BROKER,
            resourceName: String(broker),
            configurationKeys: ['auto.create.topics.enable'],
          },
        ],
      });
      const value = description?.configs.find((c) => c.name === 'auto.create.topics.enable')?.value;
      return value === 'true' ? true : value === 'false' ? false : undefined;
    } catch {
      return undefined;
    }
  }

  /** Creates `topic`; one that exists by now (another writer was faster) is fine. */
  async create(topic: string, settings: TopicSettings): Promise<void> {
    try {
      await this.client().createTopics({
        topics: [topic],
        partitions: settings.partitions,
        replicas: settings.replicationFactor,
        configs: Object.entries(settings.configs).map(([name, value]) => ({ name, value })),
      });
    } catch (error) {
      if (protocolError(error) !== 'TOPIC_ALREADY_EXISTS') throw error;
    }
  }

  async close(): Promise<void> {
    const admin = this.admin;
    this.admin = undefined;
    await admin?.close();
  }

  private client(): Admin {
    return (this.admin ??= new Admin(clientOptions(this.connection)));
  }
}
