import { z } from 'zod';
import { address, duration, name, regexProblem, sasl, sourceCommon, tls } from '../../config/types.js';

export const kafkaSourceSchema = z
  .strictObject({
    type: z.literal('kafka'),
    ...sourceCommon,
    brokers: z.array(address).min(1, 'needs at least one broker'),
    topics: z.array(name).prefault([]),
    /** Regular expression; topics matching it when the consumer starts are consumed too. */
    topic_pattern: z.string().optional(),
    group_id: name,
    /** Where a new consumer group starts. */
    start: z.enum(['earliest', 'latest']).prefault('earliest'),
    /** pgrelay events, psql-streamer events, either (auto), or raw bytes passed through untouched. */
    format: z.enum(['pgrelay', 'psql-streamer', 'auto', 'raw']).prefault('auto'),
    /** Undecodable messages go here, with headers naming topic, partition, offset and error. */
    dead_letter_topic: name.optional(),
    client_id: z.string().prefault('pgrelay'),
    session_timeout: duration('30s'),
    /**
     * Relay exactly once: the one Kafka sink this source feeds writes in transactions that also
     * commit the offsets they consumed, so read_committed consumers see every message once.
     */
    exactly_once: z.boolean().prefault(false),
    connect_timeout: duration('10s'),
    tls: tls.optional(),
    sasl: sasl.optional(),
  })
  .superRefine((config, ctx) => {
    if (config.topics.length === 0 && config.topic_pattern === undefined) {
      ctx.issues.push({
        code: 'custom',
        message: 'set topics, topic_pattern or both',
        path: ['topics'],
        input: config,
      });
    }
    const problem = config.topic_pattern === undefined ? undefined : regexProblem(config.topic_pattern);
    if (problem !== undefined) {
      ctx.issues.push({
        code: 'custom',
        message: problem,
        path: ['topic_pattern'],
        input: config.topic_pattern,
      });
    }
  });

export type KafkaSourceConfig = z.output<typeof kafkaSourceSchema>;
