import { z } from 'zod';
import { address, duration, name, regex, sasl, sinkCommon, tls } from '../../config/types.js';

export const kafkaSinkSchema = z.strictObject({
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
  compression: z.enum(['none', 'gzip', 'snappy', 'lz4', 'zstd']).prefault('none'),
  client_id: z.string().prefault('pgrelay'),
  connect_timeout: duration('10s'),
  request_timeout: duration('30s'),
  /** Records a handler cannot process go here (with headers naming the error) instead of stopping the sink. */
  dead_letter_topic: name.optional(),
  tls: tls.optional(),
  sasl: sasl.optional(),
});

export type KafkaSinkConfig = z.output<typeof kafkaSinkSchema>;
