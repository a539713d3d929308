import { z } from 'zod';
import { duration, name, optionalDuration, size, sourceCommon } from '../../config/types.js';

const qualifiedTable = z
  .string()
  .regex(
    /^(\*|[^.\s]+(\.[^.\s]+)?)$/,
    'expected "schema.table", "table" (schema public) or "*" (all tables)',
  );

export const postgresSourceSchema = z.strictObject({
  type: z.literal('postgres'),
  ...sourceCommon,
  /** postgres:// URL or key=value connection string. */
  dsn: z.string().min(1, 'must not be empty'),
  publication: name.prefault('pgrelay'),
  /** Defaults to pgrelay_<source name>. */
  slot: z
    .string()
    .regex(/^[a-z0-9_]{1,63}$/, 'slot names are lower-case letters, digits and underscores, at most 63')
    .optional(),
  tables: z.array(qualifiedTable).prefault([]),
  create_publication: z.boolean().prefault(true),
  create_slot: z.boolean().prefault(true),
  wal_retain: size(0),
  status_interval: duration('10s'),
  heartbeat: optionalDuration('off'),
  /** Emit logical decoding messages (pg_logical_emit_message) as events with action "message". */
  messages: z.boolean().prefault(false),
  connect_timeout: duration('10s'),
  application_name: z.string().prefault('pgrelay'),
});

export type PostgresSourceConfig = z.output<typeof postgresSourceSchema>;
