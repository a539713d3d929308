import { z } from 'zod';

const EVENT_FIELDS = [
  'id',
  'source',
  'host',
  'database',
  'schema',
  'table',
  'action',
  'lsn',
  'xid',
  'commit_time',
] as const;

export const enrichSchema = z.strictObject({
  type: z.literal('enrich'),
  /** Only events of these `schema.table` names are changed; empty means every event. */
  tables: z.array(z.string()).prefault([]),
  /** Static fields added to the event. */
  set: z.record(z.string(), z.string()).prefault({}),
  /** Fields added to the event, copied from the event's own fields: { origin = "host" }. */
  from_event: z.record(z.string(), z.enum(EVENT_FIELDS)).prefault({}),
  /** Column copies: { email = "email_copy" }. */
  copy: z.record(z.string(), z.string()).prefault({}),
  /** Column renames: { mail = "email" }, applied to columns, old and key. */
  rename: z.record(z.string(), z.string()).prefault({}),
  /** Columns removed from columns, old and key. */
  drop: z.array(z.string()).prefault([]),
  /** Columns whose values are masked in columns, old and key. */
  mask: z.array(z.string()).prefault([]),
  /** hash: hex SHA-256 of salt + value (joinable, not readable); redact: the string "***". */
  mask_with: z.enum(['hash', 'redact']).prefault('hash'),
  mask_salt: z.string().prefault(''),
});

export type EnrichConfig = z.output<typeof enrichSchema>;
