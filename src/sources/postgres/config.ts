import { z } from 'zod';
import { duration, name, optionalDuration, positiveInt, size, sourceCommon } from '../../config/types.js';
import { checkCondition } from './snapshot/condition.js';
import { parseDsn } from './protocol/dsn.js';

const TABLE_PATTERN = /^(?!\*$)[^.\s]+(\.[^.\s]+)?$/;

const qualifiedTable = z
  .string()
  .regex(
    /^(\*|[^.\s]+(\.[^.\s]+)?)$/,
    'expected "schema.table", "table" (schema public) or "*" (all tables)',
  );

const snapshotTable = z.string().regex(TABLE_PATTERN, 'expected "schema.table" or "table" (schema public)');

/** An SQL condition must be one expression (condition.ts): never a way to run other statements. */
function oneCondition(condition: string, ctx: z.RefinementCtx<string>): void {
  try {
    checkCondition(condition);
  } catch (error) {
    ctx.addIssue({ code: 'custom', message: (error as Error).message, input: condition });
  }
}

/** A source's replication slot when `slot` is not set: pgrelay_<name>, in the characters slots allow. */
export function defaultSlot(sourceName: string): string {
  return `pgrelay_${sourceName.toLowerCase().replace(/[^a-z0-9_]/g, '_')}`.slice(0, 63);
}

/** "users" → "public.users" */
export function qualify(table: string): string {
  return table.includes('.') ? table : `public.${table}`;
}

export const postgresSourceSchema = z
  .strictObject({
    type: z.literal('postgres'),
    ...sourceCommon,
    /** postgres:// URL or key=value connection string. */
    dsn: z
      .string()
      .min(1, 'must not be empty')
      .superRefine((dsn, ctx) => {
        try {
          parseDsn(dsn);
        } catch (error) {
          ctx.issues.push({ code: 'custom', message: (error as Error).message, input: dsn });
        }
      }),
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
    /** Rows that exist before streaming starts: never | initial (then stream) | initial_only (then stop). */
    snapshot: z.enum(['never', 'initial', 'initial_only']).prefault('never'),
    /** Tables the snapshot reads; default: `tables` (or the publication's tables). */
    snapshot_tables: z.array(snapshotTable).optional(),
    /** Per table, an SQL condition limiting the rows the snapshot reads. */
    snapshot_where: z.record(snapshotTable, z.string().superRefine(oneCondition)).prefault({}),
    /** Rows per snapshot (and backfill) chunk: one query, one batch, one stored progress step. */
    snapshot_chunk: positiveInt(10_000),
    /**
     * Active/passive: several pgrelay processes with this source, one streaming, the others standing
     * by; the position lives in the source database (pgrelay.positions), not the state file.
     */
    standby: z.boolean().prefault(false),
    /** How often a standby checks whether it can take the slot over. */
    standby_interval: duration('2s'),
  })
  .superRefine((source, ctx) => {
    if (source.standby && source.snapshot === 'initial_only') {
      ctx.addIssue({
        code: 'custom',
        path: ['standby'],
        message: 'standby = true takes turns on a stream, and snapshot = "initial_only" has none',
      });
    }
    // Without snapshot_tables, and with tables empty or "*", the publication says which: known later.
    const fromPublication = source.tables.length === 0 || source.tables.includes('*');
    const listed = source.snapshot_tables ?? (fromPublication ? undefined : source.tables);
    if (listed === undefined) return;
    const known = new Set(listed.map(qualify));
    for (const table of Object.keys(source.snapshot_where)) {
      if (!known.has(qualify(table))) {
        ctx.addIssue({
          code: 'custom',
          path: ['snapshot_where', table],
          message: `"${table}" is not a table the snapshot reads (${[...known].join(', ') || 'none'})`,
        });
      }
    }
  });

export type PostgresSourceConfig = z.output<typeof postgresSourceSchema>;
