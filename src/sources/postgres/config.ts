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

const oneTable = z.string().regex(TABLE_PATTERN, 'expected "schema.table" or "table" (schema public)');

/** An SQL condition must be one expression (condition.ts): never a way to run other statements. */
function oneCondition(condition: string, ctx: z.RefinementCtx<string>): void {
  try {
    checkCondition(condition);
  } catch (error) {
    ctx.addIssue({ code: 'custom', message: (error as Error).message, input: condition });
  }
}

/** pgrelay_<name> in the characters slot names allow: a name per source, for slots and publications. */
function perSource(sourceName: string): string {
  return `pgrelay_${sourceName.toLowerCase().replace(/[^a-z0-9_]/g, '_')}`.slice(0, 63);
}

/** A source's replication slot when `slot` is not set. */
export function defaultSlot(sourceName: string): string {
  return perSource(sourceName);
}

/** A source's publication when `publication` is not set and the source has not streamed with another. */
export function defaultPublication(sourceName: string): string {
  return perSource(sourceName);
}

/** The default publication of pgrelay before it was per source: sources that streamed with it keep it. */
export const LEGACY_PUBLICATION = 'pgrelay';

/** Where a source's publication name came from, for the log and check-config. */
export type PublicationOrigin = 'configured' | 'stored' | 'legacy' | 'default';

/**
 * The publication a source streams: `publication` when set; else the one its stored position was
 * written with (recorded in the position's meta); else, for a position stored before that was
 * recorded, "pgrelay", the default then (switching such a source to a new, empty publication would
 * stream nothing from it); else pgrelay_<source name>.
 */
export function publicationFor(
  sourceName: string,
  configured: string | undefined,
  stored: { meta: Record<string, unknown> } | undefined,
): { name: string; origin: PublicationOrigin } {
  if (configured !== undefined) return { name: configured, origin: 'configured' };
  const recorded = stored?.meta.publication;
  if (typeof recorded === 'string') return { name: recorded, origin: 'stored' };
  if (stored !== undefined) return { name: LEGACY_PUBLICATION, origin: 'legacy' };
  return { name: defaultPublication(sourceName), origin: 'default' };
}

/**
 * The publication for `insert_only_tables`: it publishes inserts and truncates only (PostgreSQL sets
 * the published actions per publication), so their tables need no replica identity.
 */
export function insertOnlyPublication(publication: string): string {
  return `${publication.slice(0, 51)}_insert_only`;
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
    /**
     * Default: pgrelay_<source name>, or "pgrelay" (the default before) for a source whose stored
     * position was written while it streamed with that one (see publicationFor).
     */
    publication: name.optional(),
    /** Defaults to pgrelay_<source name>. */
    slot: z
      .string()
      .regex(/^[a-z0-9_]{1,63}$/, 'slot names are lower-case letters, digits and underscores, at most 63')
      .optional(),
    tables: z.array(qualifiedTable).prefault([]),
    /** Tables of `tables` published for inserts (and truncates) only: tables without a replica identity. */
    insert_only_tables: z.array(oneTable).prefault([]),
    create_publication: z.boolean().prefault(true),
    /** Backfill a table pgrelay adds to its publication after the source streamed (its rows written before). */
    backfill_added_tables: z.boolean().prefault(true),
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
    snapshot_tables: z.array(oneTable).optional(),
    /** Per table, an SQL condition limiting the rows the snapshot reads. */
    snapshot_where: z.record(oneTable, z.string().superRefine(oneCondition)).prefault({}),
    /** Rows per snapshot (and backfill) chunk: one query, one batch, one stored progress step. */
    snapshot_chunk: positiveInt(10_000),
    /**
     * Active/passive: several pgrelay processes with this source, one streaming, the others standing
     * by; the position and the snapshot and backfill progress live in the source database
     * (pgrelay.positions, pgrelay.snapshot_progress), not the state file.
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
    const tables = new Set(source.tables.map(qualify));
    source.insert_only_tables.forEach((table, i) => {
      if (!tables.has(qualify(table))) {
        ctx.addIssue({
          code: 'custom',
          path: ['insert_only_tables', i],
          message: `"${table}" is not in tables: list it there too (insert_only_tables says which of them publish only inserts)`,
        });
      }
    });
    if (source.insert_only_tables.length > 0 && !source.create_publication) {
      ctx.addIssue({
        code: 'custom',
        path: ['insert_only_tables'],
        message: `needs create_publication = true: pgrelay publishes these tables in a publication of its own ("${insertOnlyPublication(source.publication ?? '<publication>')}")`,
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
