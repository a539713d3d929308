import { z } from 'zod';
import { enrichSchema } from '../handlers/enrich/config.js';
import { moduleSchema } from '../handlers/module/config.js';
import { passthroughSchema } from '../handlers/passthrough/config.js';
import { psqlStreamerSchema } from '../handlers/psql-streamer/config.js';
import { kafkaSinkSchema } from '../sinks/kafka/config.js';
import { stubSinkSchema } from '../sinks/stub/config.js';
import { kafkaSourceSchema } from '../sources/kafka/config.js';
import { postgresSourceSchema } from '../sources/postgres/config.js';
import { duration, hostPort, optionalDuration, size, sizeOrAuto } from '../config/types.js';

/** Handler types usable by name in a sink's `handlers` without a [handlers.x] table. */
export const BUILTIN_HANDLERS = ['passthrough', 'psql-streamer'] as const;

export const sourceSchema = z.discriminatedUnion('type', [postgresSourceSchema, kafkaSourceSchema]);
export const sinkSchema = z.discriminatedUnion('type', [kafkaSinkSchema, stubSinkSchema]);
export const handlerSchema = z.discriminatedUnion('type', [
  passthroughSchema,
  psqlStreamerSchema,
  enrichSchema,
  moduleSchema,
]);

export const configSchema = z.strictObject({
  http: z
    .strictObject({
      /** host:port, or "off". */
      listen: z.union([z.literal('off'), hostPort({ anyPort: true })]).prefault('127.0.0.1:9187'),
      /** Bearer token the endpoints that change something (debug, backfill) require. */
      token: z.string().min(16, 'use at least 16 characters').optional(),
      /** A file holding that token (read at start; surrounding whitespace ignored). */
      token_file: z.string().min(1).optional(),
    })
    .refine((http) => http.token === undefined || http.token_file === undefined, {
      message: 'set token or token_file, not both',
      path: ['token_file'],
    })
    .prefault({}),
  state: z.strictObject({ path: z.string().min(1) }).prefault({ path: '/var/lib/pgrelay/state.db' }),
  log: z.strictObject({ level: z.enum(['debug', 'info', 'warn', 'error']).prefault('info') }).prefault({}),
  /** How long SIGTERM/SIGINT may take to flush in-flight batches and store positions. */
  shutdown_timeout: duration('30s'),
  /** How often a summary of every component's counters is logged. */
  stats_interval: optionalDuration('60s'),
  /** After this long without an event moving, one full garbage collection gives memory back. */
  release_memory_when_idle: optionalDuration('10s'),
  /**
   * One full garbage collection once V8's old generation grew this much (or by a quarter of what the
   * last one left, if more) since the last; 0 leaves it to V8, which waits until it doubled. "auto":
   * 8 MB where a PostgreSQL source runs, else 0 (see old-heap.ts).
   */
  old_heap_growth: sizeOrAuto('auto'),
  /**
   * The most V8's young generation (both semi-spaces) may grow to; it grows by doubling, up to the
   * launcher's 32 MB. 0: no limit (see young-heap.ts).
   */
  young_heap_limit: size('16MB'),
  sources: z.record(z.string(), sourceSchema).prefault({}),
  handlers: z.record(z.string(), handlerSchema).prefault({}),
  sinks: z.record(z.string(), sinkSchema).prefault({}),
});

export type Config = z.output<typeof configSchema> & { file: string };
export type SourceConfig = z.output<typeof sourceSchema>;
export type SinkConfig = z.output<typeof sinkSchema>;
export type HandlerConfig = z.output<typeof handlerSchema>;
