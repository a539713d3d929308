import { z } from 'zod';
import { EVENT_FIELDS, EVENT_SCALAR_FIELDS } from '../../core/event.js';

/** Fields of the event contract; `set` and `from_event` add fields, they never overwrite these. */
const CONTRACT_FIELDS: ReadonlySet<string> = new Set(EVENT_FIELDS);

export const enrichSchema = z
  .strictObject({
    type: z.literal('enrich'),
    /** Only events of these `schema.table` names are changed; empty means every event. */
    tables: z.array(z.string()).prefault([]),
    /** Static fields added to the event. */
    set: z.record(z.string(), z.string()).prefault({}),
    /** Fields added to the event, copied from the event's own fields: { origin = "host" }. */
    from_event: z.record(z.string(), z.enum(EVENT_SCALAR_FIELDS)).prefault({}),
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
  })
  .superRefine((config, ctx) => {
    for (const key of ['set', 'from_event'] as const) {
      for (const field of Object.keys(config[key])) {
        if (CONTRACT_FIELDS.has(field)) {
          ctx.issues.push({
            code: 'custom',
            message: `"${field}" is a field of the event itself; add fields under other names`,
            path: [key, field],
            input: config[key],
          });
        }
      }
    }
  });

export type EnrichConfig = z.output<typeof enrichSchema>;
