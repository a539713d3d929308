import { z } from 'zod';
import { address, duration, name, regex, sasl, sinkCommon, size, tls } from '../../config/types.js';

const count = z.number().int().positive();

/** How the sink creates a topic that does not exist; every key left out takes the broker's default. */
const createTopics = z.strictObject({
  partitions: count.optional(),
  replication_factor: count.optional(),
  /** retention.ms: a duration, or "forever". */
  retention: z.union([z.literal('forever'), duration()]).optional(),
  /** retention.bytes, per partition. */
  retention_bytes: size().optional(),
  cleanup_policy: z.enum(['delete', 'compact', 'compact,delete']).optional(),
  min_insync_replicas: count.optional(),
  max_message_bytes: size().optional(),
});

export const kafkaSinkSchema = z
  .strictObject({
    type: z.literal('kafka'),
    ...sinkCommon,
    brokers: z.array(address).min(1, 'needs at least one broker'),
    /** Exact `schema.table` (or source topic, for relayed messages) → topic. */
    topic_map: z.record(z.string(), name).prefault({}),
    /** Regular expression on `schema.table` → topic; tried in file order after topic_map. */
    topic_routes: z.record(regex, name).prefault({}),
    /** Topic for events no map or route matches; without it they are dropped and counted. */
    topic_fallback: name.optional(),
    acks: z.enum(['all', 'leader', 'none']).prefault('all'),
    // lz4 by default: the broker receives, stores and replicates about a quarter of the bytes; with
    // the same CPU per row in pgrelay, a 1M-row snapshot and transaction ran 17-20% faster beside the
    // broker on 2 cores (README, Performance). Every Kafka client reads it.
    compression: z.enum(['none', 'gzip', 'snappy', 'lz4', 'zstd']).prefault('lz4'),
    client_id: z.string().prefault('pgrelay'),
    connect_timeout: duration('10s'),
    request_timeout: duration('30s'),
    /** Records a handler cannot process go here (with headers naming the error) instead of stopping the sink. */
    dead_letter_topic: name.optional(),
    /** A row larger than its topic accepts: stop the sink ("fail"), or send it to dead_letter_topic. */
    oversize: z.enum(['fail', 'dead_letter']).prefault('fail'),
    /** Create missing topics with these settings; without it, a missing topic is the broker's to create. */
    create_topics: createTopics.optional(),
    tls: tls.optional(),
    sasl: sasl.optional(),
  })
  .refine((sink) => sink.oversize !== 'dead_letter' || sink.dead_letter_topic !== undefined, {
    message: 'oversize = "dead_letter" needs dead_letter_topic',
    path: ['oversize'],
  });

export type KafkaSinkConfig = z.output<typeof kafkaSinkSchema>;
