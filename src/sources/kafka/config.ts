import { z } from 'zod';
import { address, duration, name, regexProblem, sasl, sourceCommon, tls } from '../../config/types.js';

/** exactly_once transactions are aborted by their coordinator after this long, unless configured. */
const DEFAULT_TRANSACTION_TIMEOUT_MS = 15_000;
/** Offsets delivered are committed at most this often, unless configured. */
const DEFAULT_COMMIT_INTERVAL_MS = 100;
const TRANSACTION_TIMEOUT_MIN_MS = 1000;
const TRANSACTION_TIMEOUT_MAX_MS = 15 * 60_000;

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
     * Delivered offsets are committed at most this often (default 100ms; 0: as soon as delivered).
     * Each commit is a write on the broker; after kill -9 what was delivered since the last commit
     * is sent again. A stop or a rebalance commits at once.
     */
    commit_interval: duration().optional(),
    /**
     * Relay exactly once: the one Kafka sink this source feeds writes in transactions that also
     * commit the offsets they consumed, so read_committed consumers see every message once.
     */
    exactly_once: z.boolean().prefault(false),
    /**
     * exactly_once: how long a transaction may stay open before its coordinator aborts it (default
     * 15s). A process killed mid-transaction holds read_committed readers of the partitions it wrote
     * this long, unless it starts again first; a delivery must commit within it.
     */
    transaction_timeout: duration().optional(),
    connect_timeout: duration('10s'),
    tls: tls.optional(),
    sasl: sasl.optional(),
  })
  .superRefine((config, ctx) => {
    const timeout = config.transaction_timeout;
    if (timeout !== undefined && !config.exactly_once)
      ctx.issues.push({
        code: 'custom',
        message: 'has an effect only with exactly_once = true: remove it, or set exactly_once',
        path: ['transaction_timeout'],
        input: timeout,
      });
    if (
      timeout !== undefined &&
      (timeout < TRANSACTION_TIMEOUT_MIN_MS || timeout > TRANSACTION_TIMEOUT_MAX_MS)
    )
      ctx.issues.push({
        code: 'custom',
        message:
          `must be from 1s to 15m (${timeout} ms): a delivery must commit within it, and brokers refuse ` +
          'more than their transaction.max.timeout.ms (15m by default)',
        path: ['transaction_timeout'],
        input: timeout,
      });
    const interval = config.commit_interval;
    if (interval !== undefined && config.exactly_once)
      ctx.issues.push({
        code: 'custom',
        message:
          'has no effect with exactly_once = true, where each delivery commits its offsets in its transaction: remove it',
        path: ['commit_interval'],
        input: interval,
      });
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
  })
  // The defaults that depend on exactly_once, filled in so the config printed shows them.
  .transform((config) =>
    config.exactly_once
      ? { ...config, transaction_timeout: config.transaction_timeout ?? DEFAULT_TRANSACTION_TIMEOUT_MS }
      : { ...config, commit_interval: config.commit_interval ?? DEFAULT_COMMIT_INTERVAL_MS },
  );

export type KafkaSourceConfig = z.output<typeof kafkaSourceSchema>;
