import type pg from 'pg';
import { type Lsn, formatLsn, lsnToBigInt } from '../../../core/lsn.js';

/** A publication as the catalog has it. */
export interface PublicationInfo {
  name: string;
  allTables: boolean;
  /** The source whose tables it follows, when pgrelay created it (its COMMENT says so). */
  owner: string | undefined;
  /**
   * Created after the source had streamed: sessions resuming before this LSN must not name it.
   * STREAMABLE_UNKNOWN: created, the LSN not yet found.
   */
  streamableFrom: Lsn | undefined;
}

/** streamableFrom of a publication created before its LSN was found (pgrelay stopped in between). */
export const STREAMABLE_UNKNOWN = 0xffffffffffffffffn;

/**
 * The COMMENT pgrelay puts on a publication it creates: it records which source's `tables` the
 * publication follows, in the database beside it, so a state file reset or a second pgrelay
 * cannot mistake an operator's publication for pgrelay's.
 */
const MARKER = /^managed by pgrelay source "((?:[^"]|"")*)"(?:; streamable from ([0-9A-F]+\/[0-9A-F]+))?/;

export function marker(source: string, streamableFrom?: Lsn): string {
  const owner = `managed by pgrelay source "${source.replace(/"/g, '""')}"`;
  return streamableFrom === undefined ? owner : `${owner}; streamable from ${formatLsn(streamableFrom)}`;
}

export async function describePublication(
  client: pg.Client,
  name: string,
): Promise<PublicationInfo | undefined> {
  const found = await client.query<{ all: boolean; comment: string | null }>(
    `SELECT puballtables AS all, obj_description(oid, 'pg_publication') AS comment
       FROM pg_publication WHERE pubname = $1`,
    [name],
  );
  const row = found.rows[0];
  if (row === undefined) return undefined;
  const match = MARKER.exec(row.comment ?? '');
  return {
    name,
    allTables: row.all,
    owner: match === null ? undefined : match[1]!.replace(/""/g, '"'),
    streamableFrom: match?.[2] === undefined ? undefined : lsnToBigInt(match[2]),
  };
}

/** `schema.table` → its oid, undefined for a table (or partitioned table) that does not exist. */
export async function findTables(
  client: pg.Client,
  names: readonly string[],
): Promise<Map<string, number | undefined>> {
  const result = await client.query<{ name: string; oid: string | null }>(
    `SELECT t.name, c.oid::int8 AS oid FROM unnest($1::text[]) AS t(name)
       LEFT JOIN pg_namespace n ON n.nspname = split_part(t.name, '.', 1)
       LEFT JOIN pg_class c ON c.relnamespace = n.oid AND c.relkind IN ('r', 'p')
            AND c.relname = substr(t.name, length(split_part(t.name, '.', 1)) + 2)`,
    [names],
  );
  return new Map(result.rows.map((r) => [r.name, r.oid === null ? undefined : Number(r.oid)]));
}

/**
 * A relation's replica identity works, so PostgreSQL lets UPDATE and DELETE run while it is
 * published: FULL, or the primary key (DEFAULT) or chosen index (USING INDEX) as relcache takes it
 * (valid, not deferrable). Anything else fails the application's statement.
 */
const IDENTITY_WORKS = `(c.relreplident = 'f' OR EXISTS (
  SELECT 1 FROM pg_index i WHERE i.indrelid = c.oid AND i.indisvalid AND i.indimmediate
     AND ((c.relreplident = 'd' AND i.indisprimary) OR (c.relreplident = 'i' AND i.indisreplident))))`;

/** Relations below the roots (pg_inherits: partitions and inheritance children), the roots included. */
const TREE = `tree(root, relid) AS (
  SELECT r, r FROM unnest($1::oid[]) AS roots(r)
  UNION SELECT tree.root, i.inhrelid FROM tree JOIN pg_inherits i ON i.inhparent = tree.relid)`;

/**
 * Per table of `oids`, the tables holding its rows (itself, its partitions, its children: what
 * ADD TABLE publishes with it) whose UPDATE and DELETE would fail once they are published.
 */
export async function withoutIdentity(
  client: pg.Client,
  oids: readonly number[],
): Promise<Map<number, string[]>> {
  const result = await client.query<{ root: string; name: string }>(
    `WITH RECURSIVE ${TREE}
     SELECT tree.root::int8 AS root, n.nspname || '.' || c.relname AS name
       FROM tree JOIN pg_class c ON c.oid = tree.relid JOIN pg_namespace n ON n.oid = c.relnamespace
      WHERE c.relkind = 'r' AND NOT ${IDENTITY_WORKS} ORDER BY 2`,
    [oids],
  );
  const found = new Map<number, string[]>();
  for (const row of result.rows) {
    const root = Number(row.root);
    found.set(root, [...(found.get(root) ?? []), row.name]);
  }
  return found;
}

/** Every table a FOR ALL TABLES publication would publish whose UPDATE and DELETE would then fail. */
export async function allTablesWithoutIdentity(client: pg.Client): Promise<string[]> {
  const result = await client.query<{ name: string }>(
    `SELECT n.nspname || '.' || c.relname AS name FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
      WHERE c.relkind = 'r' AND c.relpersistence = 'p' AND c.oid >= 16384 AND NOT ${IDENTITY_WORKS} ORDER BY 1`,
  );
  return result.rows.map((r) => r.name);
}

/** The tables `publication` publishes (leaf partitions, or roots published via the root), as oids. */
const PUBLISHED = `published AS (
  SELECT c.oid FROM pg_publication_tables pt
    JOIN pg_namespace n ON n.nspname = pt.schemaname
    JOIN pg_class c ON c.relnamespace = n.oid AND c.relname = pt.tablename
   WHERE pt.pubname = $2)`;

/**
 * Of `oids`, the tables whose changes `publication` publishes: the table, a partition or child of
 * it, or a partitioned ancestor publishing via its root.
 */
export async function publishedAmong(
  client: pg.Client,
  publication: string,
  oids: readonly number[],
): Promise<Set<number>> {
  const result = await client.query<{ root: string }>(
    `WITH RECURSIVE ${TREE},
     up(root, relid) AS (
       SELECT r, r FROM unnest($1::oid[]) AS roots(r)
       UNION SELECT up.root, i.inhparent FROM up JOIN pg_inherits i ON i.inhrelid = up.relid),
     ${PUBLISHED}
     SELECT DISTINCT root::int8 AS root FROM (SELECT * FROM tree UNION SELECT * FROM up) related
      WHERE relid IN (SELECT oid FROM published)`,
    [oids, publication],
  );
  return new Set(result.rows.map((r) => Number(r.root)));
}

/**
 * Tables listed in `publication` itself (pg_publication_rel) that are none of `keep` nor below
 * them: what ALTER PUBLICATION ... DROP TABLE takes out when `keep` is what it should list.
 */
export async function listedOutside(
  client: pg.Client,
  publication: string,
  keep: readonly number[],
): Promise<string[]> {
  const result = await client.query<{ name: string }>(
    `WITH RECURSIVE ${TREE}
     SELECT n.nspname || '.' || c.relname AS name
       FROM pg_publication p JOIN pg_publication_rel pr ON pr.prpubid = p.oid
       JOIN pg_class c ON c.oid = pr.prrelid JOIN pg_namespace n ON n.oid = c.relnamespace
      WHERE p.pubname = $2 AND pr.prrelid NOT IN (SELECT relid FROM tree) ORDER BY 1`,
    [keep, publication],
  );
  return result.rows.map((r) => r.name);
}

/** Tables `publication` publishes whose UPDATE and DELETE fail in the application (when it publishes those). */
export async function publishedWithoutIdentity(client: pg.Client, publication: string): Promise<string[]> {
  const result = await client.query<{ name: string }>(
    `WITH RECURSIVE ${PUBLISHED.replace('$2', '$1')},
     leaves(relid) AS (
       SELECT oid FROM published
       UNION SELECT i.inhrelid FROM leaves JOIN pg_inherits i ON i.inhparent = leaves.relid
        JOIN pg_class p ON p.oid = leaves.relid AND p.relkind = 'p')
     SELECT DISTINCT n.nspname || '.' || c.relname AS name
       FROM leaves JOIN pg_class c ON c.oid = leaves.relid JOIN pg_namespace n ON n.oid = c.relnamespace
       JOIN pg_publication pub ON pub.pubname = $1 AND (pub.pubupdate OR pub.pubdelete)
      WHERE c.relkind = 'r' AND NOT ${IDENTITY_WORKS} ORDER BY 1`,
    [publication],
  );
  return result.rows.map((r) => r.name);
}
