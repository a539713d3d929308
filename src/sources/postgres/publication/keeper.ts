import type pg from 'pg';
import type { Logger } from 'pino';
import type { Health, Problem } from '../../../core/component.js';
import { errorCode, errorMessage } from '../../../core/errors.js';
import { type Lsn, formatLsn, lsnToBigInt } from '../../../core/lsn.js';
import type { Metrics } from '../../../core/metrics.js';
import { type PostgresSourceConfig, insertOnlyPublication, publicationFor, qualify } from '../config.js';
import * as errors from '../errors.js';
import { literal, quoteIdent } from '../protocol/replication.js';
import {
  type PublicationInfo,
  STREAMABLE_UNKNOWN,
  allTablesWithoutIdentity,
  describePublication,
  findTables,
  listedOutside,
  marker,
  publishedAmong,
  publishedWithoutIdentity,
  withoutIdentity,
} from './catalog.js';

/** Configured tables whose changes are not streamed: missing, or not in a publication pgrelay does not own. */
export const UNPUBLISHED = 'PGRELAY_PG_TABLES_UNPUBLISHED';
/** Configured tables pgrelay does not publish because they have no replica identity. */
export const NO_IDENTITY = 'PGRELAY_PG_REPLICA_IDENTITY';
/** Published tables without a replica identity: the application's UPDATE and DELETE on them fail. */
export const UPDATES_FAIL = 'PGRELAY_PG_UPDATES_FAIL';

export interface PublicationSettings {
  source: string;
  /** The publication the source streams (configured, stored or default). */
  publication: string;
  /** The publication of insert_only_tables; undefined without them. */
  insertOnly: string | undefined;
  slot: string;
  /** Qualified; ["*"]: all tables; []: whatever the publication holds. */
  tables: readonly string[];
  insertOnlyTables: readonly string[];
  /** create_publication: create the publications when missing (and from then on keep them in line). */
  create: boolean;
}

export interface Prepared {
  /** publication_names of the session. */
  publications: string[];
  /** Tables added to a publication: what was written to them before was not streamed. */
  added: string[];
  /** The session resumes a stream (a stored position or an existing slot): `added` left a gap. */
  resumed: boolean;
}

/** What one pass over the publications found. */
interface Findings {
  missing: string[];
  /** Publication (not pgrelay's) → configured tables it does not publish. */
  notPublished: Map<string, string[]>;
  /** Insert-only tables waiting until their publication can be streamed. */
  waiting: string[];
  noIdentity: string[];
  /** Publication → published tables without a replica identity. */
  updatesFail: Map<string, { tables: string[]; owned: boolean }>;
}

type Phase = 'start' | 'check';

/**
 * The publications of one source. Those pgrelay created (a COMMENT names the source) follow
 * `tables`: at every session start and every status_interval, missing tables are added (a table
 * dropped and recreated drops out of a FOR TABLE publication) and tables no longer listed are
 * dropped. A table without a working replica identity is never published for updates: the
 * application's UPDATE and DELETE on it would fail. What is not streamed, and published tables that
 * break the application's writes, are problems: /status 503, gauges, a log line when they change.
 */
export class PublicationKeeper {
  private findings: Findings = noFindings();
  private reported = new Map<string, string>();
  /** The insert-only publication can be streamed once the stream passed this LSN. */
  private pendingFrom: Lsn | undefined;
  private checking = false;

  constructor(
    private settings: PublicationSettings,
    private readonly log: Logger,
    private readonly health: Health,
    metrics: Metrics,
  ) {
    keepersOf(metrics).add(this);
  }

  /**
   * Before a session streams: creates the publications when missing (and allowed), brings the ones
   * pgrelay owns in line with `tables`, reports what is not streamed. `stored`: the position the
   * session resumes from, if any. Throws what the operator must fix.
   */
  async prepare(client: pg.Client, stored: Lsn | undefined): Promise<Prepared> {
    const resume = stored ?? (await slotPosition(client, this.settings.slot));
    this.pendingFrom = undefined;
    const found = noFindings();
    const added = await this.syncMain(client, found, 'start', resume);
    const publications = [this.settings.publication];
    if (this.settings.insertOnly !== undefined) {
      const insertOnly = await this.prepareInsertOnly(client, found, resume);
      if (insertOnly !== undefined) {
        publications.push(insertOnly.name);
        added.push(...insertOnly.added);
      }
    }
    await this.report(client, found, publications);
    return { publications, added, resumed: resume !== undefined };
  }

  /**
   * While streaming, every status_interval: re-adds tables that dropped out (dropped and
   * recreated), reports. `restream`: a publication the session must start again to name (the
   * insert-only one, once the stream passed the point where it can be streamed).
   */
  async check(
    client: pg.Client,
    delivered: Lsn,
    streaming: readonly string[],
  ): Promise<{ added: string[]; restream?: string }> {
    if (this.checking) return { added: [] };
    this.checking = true;
    try {
      if (this.pendingFrom !== undefined && delivered >= this.pendingFrom)
        return { added: [], restream: this.settings.insertOnly! };
      const found = noFindings();
      const added = await this.syncMain(client, found, 'check', delivered);
      const insertOnly = this.settings.insertOnly;
      if (insertOnly !== undefined && streaming.includes(insertOnly)) {
        const info = await describePublication(client, insertOnly);
        if (info !== undefined)
          added.push(...(await this.syncList(client, info, this.settings.insertOnlyTables, found, false)));
      } else found.waiting.push(...this.findings.waiting);
      await this.report(client, found, streaming);
      return { added };
    } catch (error) {
      this.log.warn(
        { err: error },
        `source ${this.settings.source}: checking publications failed: ${errorMessage(error)}`,
      );
      return { added: [] };
    } finally {
      this.checking = false;
    }
  }

  get source(): string {
    return this.settings.source;
  }

  /** The publication the source streams. */
  get publication(): string {
    return this.settings.publication;
  }

  /**
   * Streams `publication` from the next session on: the one another instance of a standby source
   * streamed, recorded with the position this one took over.
   */
  streamInstead(publication: string): void {
    const { insertOnly } = this.settings;
    this.settings = {
      ...this.settings,
      publication,
      insertOnly: insertOnly === undefined ? undefined : insertOnlyPublication(publication),
    };
  }

  /** Every publication of the source: what snapshots and backfills read tables as. */
  get publications(): string[] {
    const { publication, insertOnly } = this.settings;
    return insertOnly === undefined ? [publication] : [publication, insertOnly];
  }

  /** Configured tables not streamed, and published tables whose UPDATE and DELETE fail: the gauges. */
  get counts(): { unpublished: number; withoutIdentity: number } {
    const f = this.findings;
    const notPublished = [...f.notPublished.values()].flat();
    return {
      unpublished: f.missing.length + f.waiting.length + f.noIdentity.length + notPublished.length,
      withoutIdentity: [...f.updatesFail.values()].flatMap((v) => v.tables).length,
    };
  }

  // ---- the publication the source streams -----------------------------------------------------

  private mainTables(): string[] {
    const insertOnly = new Set(this.settings.insertOnlyTables);
    return this.settings.tables.filter((t) => !insertOnly.has(t));
  }

  private async syncMain(
    client: pg.Client,
    found: Findings,
    phase: Phase,
    resume: Lsn | undefined,
  ): Promise<string[]> {
    const { source, publication, tables } = this.settings;
    let info = await describePublication(client, publication);
    if (info === undefined) {
      if (phase === 'check') return []; // dropped while streaming: the stream fails, naming it
      if (!this.settings.create)
        throw errors.publicationMissing(source, publication, 'create_publication = false');
      if (tables.length === 0)
        throw errors.publicationMissing(
          source,
          publication,
          'tables is empty: list the tables to publish, or "*" for all',
        );
      // The slot decodes each change with the publications that existed when it was made.
      if (resume !== undefined)
        throw errors.publicationDropped(source, this.settings.slot, publication, {
          resume: formatLsn(resume),
        });
      info = await this.createMain(client, 'CREATE');
    } else if (
      phase === 'start' &&
      info.owner === source &&
      tables.length > 0 &&
      info.allTables !== tables.includes('*')
    ) {
      info = await this.createMain(client, 'REPLACE');
    }
    // "*" streams whatever the publication holds; FOR ALL TABLES holds every table.
    if (info.allTables || tables.includes('*')) return [];
    return this.syncList(client, info, this.mainTables(), found, true);
  }

  /**
   * Creates the publication, or replaces it (`tables` switched between "*" and a list) in one
   * transaction: every transaction is then decoded with the old or the new one, never with none.
   */
  private async createMain(client: pg.Client, how: 'CREATE' | 'REPLACE'): Promise<PublicationInfo> {
    const { source, publication } = this.settings;
    // What it leaves out is noted by the sync that follows.
    const target = await this.target(client, noFindings());
    await this.inTransaction(client, `cannot create publication "${publication}"`, async () => {
      if (how === 'REPLACE') await client.query(`DROP PUBLICATION ${quoteIdent(publication)}`);
      await client.query(`CREATE PUBLICATION ${quoteIdent(publication)}${target}`);
      await client.query(`COMMENT ON PUBLICATION ${quoteIdent(publication)} IS ${literal(marker(source))}`);
    });
    this.log.info(
      { publication, tables: this.settings.tables },
      `${how === 'CREATE' ? 'created' : 'replaced, as tables says,'} publication "${publication}"${target}`,
    );
    return (await describePublication(client, publication))!;
  }

  /** What CREATE PUBLICATION publishes: all tables (when none lacks an identity), or the listed ones that may be. */
  private async target(client: pg.Client, found: Findings): Promise<string> {
    const { source, publication, tables } = this.settings;
    if (tables.includes('*')) {
      const unsafe = await allTablesWithoutIdentity(client);
      if (unsafe.length > 0) throw errors.allTablesWithoutIdentity(source, publication, unsafe);
      return ' FOR ALL TABLES';
    }
    const { publishable } = await this.classify(client, this.mainTables(), found, true);
    return publishable.length === 0 ? '' : ` FOR TABLE ${publishable.map(qualifiedIdent).join(', ')}`;
  }

  /**
   * The tables of `tables` that exist and may be published; notes the missing ones and (`identity`:
   * published for updates) those without a working replica identity.
   */
  private async classify(
    client: pg.Client,
    tables: readonly string[],
    found: Findings,
    identity: boolean,
  ): Promise<{ publishable: string[]; oids: Map<string, number> }> {
    const existing = await findTables(client, tables);
    const oids = new Map<string, number>();
    for (const table of tables) {
      const oid = existing.get(table);
      if (oid === undefined) found.missing.push(table);
      else oids.set(table, oid);
    }
    const unsafe = identity ? await withoutIdentity(client, [...oids.values()]) : new Map<number, string[]>();
    const publishable: string[] = [];
    for (const [table, oid] of oids) {
      if (unsafe.has(oid)) found.noIdentity.push(table);
      else publishable.push(table);
    }
    return { publishable, oids };
  }

  // ---- a publication listing tables --------------------------------------------------------------

  /**
   * Brings a FOR TABLE publication pgrelay owns in line with `tables`, or notes the tables one it
   * does not own leaves out. `identity`: it publishes updates. Returns the tables added.
   */
  private async syncList(
    client: pg.Client,
    info: PublicationInfo,
    tables: readonly string[],
    found: Findings,
    identity: boolean,
  ): Promise<string[]> {
    if (tables.length === 0) return [];
    const owned = info.owner === this.settings.source;
    const { publishable, oids } = await this.classify(client, tables, found, identity && owned);
    const published = await publishedAmong(client, info.name, [...oids.values()]);
    if (!owned) {
      const absent = publishable.filter((t) => !published.has(oids.get(t)!));
      if (absent.length > 0) found.notPublished.set(info.name, absent);
      return [];
    }
    const added: string[] = [];
    for (const table of publishable) {
      if (published.has(oids.get(table)!)) continue;
      if (await this.alter(client, info.name, 'ADD', table)) added.push(table);
      else found.missing.push(table);
    }
    // Listed but not to be: no longer in tables, or (now) without a replica identity.
    const keep = publishable.map((t) => oids.get(t)!);
    for (const table of await listedOutside(client, info.name, keep))
      await this.alter(client, info.name, 'DROP', table);
    return added;
  }

  /** One ALTER PUBLICATION; false when the table went away meanwhile. */
  private async alter(
    client: pg.Client,
    publication: string,
    action: 'ADD' | 'DROP',
    table: string,
  ): Promise<boolean> {
    try {
      await client.query(
        `ALTER PUBLICATION ${quoteIdent(publication)} ${action} TABLE ${qualifiedIdent(table)}`,
      );
    } catch (error) {
      if (errorCode(error) === '42P01') return false;
      if (errorCode(error) === '42501')
        throw errors.permissionDenied(
          this.settings.source,
          `cannot alter publication "${publication}": ${errorMessage(error)}`,
          error,
        );
      throw error;
    }
    this.log.info(
      { publication, table },
      action === 'ADD'
        ? `added ${table} to publication "${publication}": its changes stream from now on`
        : `dropped ${table} from publication "${publication}"`,
    );
    return true;
  }

  // ---- the insert-only publication ---------------------------------------------------------------

  /**
   * The publication of insert_only_tables (publish = 'insert, truncate'), created when missing.
   * Undefined while it cannot be streamed yet: it was created after the position the session
   * resumes from (its tables join once the stream passed the point where it can, see streamableFrom).
   */
  private async prepareInsertOnly(
    client: pg.Client,
    found: Findings,
    resume: Lsn | undefined,
  ): Promise<{ name: string; added: string[] } | undefined> {
    const { source } = this.settings;
    const name = this.settings.insertOnly!;
    let info = await describePublication(client, name);
    if (info === undefined) {
      // A new slot (resume undefined) is created after it, and decodes only what follows.
      const mark = marker(source, resume === undefined ? undefined : STREAMABLE_UNKNOWN);
      await this.inTransaction(client, `cannot create publication "${name}"`, async () => {
        await client.query(`CREATE PUBLICATION ${quoteIdent(name)} WITH (publish = 'insert, truncate')`);
        await client.query(`COMMENT ON PUBLICATION ${quoteIdent(name)} IS ${literal(mark)}`);
      });
      this.log.info({ publication: name }, `created publication "${name}" for insert_only_tables`);
      info = (await describePublication(client, name))!;
    }
    let from = info.streamableFrom;
    if (from === STREAMABLE_UNKNOWN) {
      from = await this.streamableFrom(client);
      await client.query(`COMMENT ON PUBLICATION ${quoteIdent(name)} IS ${literal(marker(source, from))}`);
    }
    if (from !== undefined && resume !== undefined && resume < from) {
      this.pendingFrom = from;
      found.waiting.push(...this.settings.insertOnlyTables);
      this.log.info(
        { publication: name, from: formatLsn(from) },
        `publication "${name}" is streamed once the stream passed ${formatLsn(from)}`,
      );
      return undefined;
    }
    return { name, added: await this.syncList(client, info, this.settings.insertOnlyTables, found, false) };
  }

  /**
   * Where a session may start to name a publication created a moment ago: past every transaction
   * that was running then (a transaction that began before the publication existed is decoded
   * without it, and fails). A temporary slot's consistent point is exactly that.
   */
  private async streamableFrom(client: pg.Client): Promise<Lsn> {
    const probe = `${this.settings.slot.slice(0, 57)}_probe`;
    const created = await client.query<{ lsn: string }>(
      `SELECT lsn::text AS lsn FROM pg_create_logical_replication_slot($1, 'pgoutput', true)`,
      [probe],
    );
    await client.query('SELECT pg_drop_replication_slot($1)', [probe]);
    return lsnToBigInt(created.rows[0]!.lsn);
  }

  // ---- reporting -----------------------------------------------------------------------------------

  private async report(client: pg.Client, found: Findings, publications: readonly string[]): Promise<void> {
    for (const name of publications) {
      const tables = await publishedWithoutIdentity(client, name);
      const owned = (await describePublication(client, name))?.owner === this.settings.source;
      if (tables.length > 0) found.updatesFail.set(name, { tables, owned });
    }
    this.findings = found;
    const problems = this.problems();
    this.health.problems = problems;
    const now = new Map(problems.map((p) => [p.code, p.message]));
    for (const problem of problems) {
      if (this.reported.get(problem.code) !== problem.message)
        this.log.error({ code: problem.code, tables: problem.items }, problem.message);
    }
    for (const code of this.reported.keys()) {
      if (!now.has(code)) this.log.info({ code }, `source ${this.settings.source}: ${code} resolved`);
    }
    this.reported = now;
  }

  private problems(): Problem[] {
    const { source, publication } = this.settings;
    const f = this.findings;
    const problems: Problem[] = [];
    const reasons: string[] = [];
    if (f.missing.length > 0)
      reasons.push(`${errors.listed(f.missing)} ${f.missing.length === 1 ? 'does' : 'do'} not exist`);
    for (const [name, tables] of f.notPublished) {
      reasons.push(
        `publication "${name}" (not pgrelay's) does not publish ${errors.listed(tables)}: ALTER PUBLICATION ` +
          `${quoteIdent(name)} ADD TABLE ${tables.map(qualifiedIdent).join(', ')}; or let pgrelay keep it in line ` +
          `with tables: COMMENT ON PUBLICATION ${quoteIdent(name)} IS ${literal(marker(source))}`,
      );
    }
    if (f.waiting.length > 0)
      reasons.push(
        `${errors.listed(f.waiting)} join publication "${this.settings.insertOnly}" once the stream passed ` +
          `${formatLsn(this.pendingFrom!)}, the first position PostgreSQL can decode with it`,
      );
    const items = [...f.missing, ...[...f.notPublished.values()].flat(), ...f.waiting];
    if (items.length > 0)
      problems.push({
        code: UNPUBLISHED,
        items,
        message: `source ${source}: tables not streamed: ${reasons.join('; ')}`,
      });
    if (f.noIdentity.length > 0) {
      const [them, have] = f.noIdentity.length === 1 ? ['it', 'has'] : ['them', 'have'];
      problems.push({
        code: NO_IDENTITY,
        items: f.noIdentity,
        message:
          `source ${source}: ${errors.listed(f.noIdentity)} ${have} no replica identity, so pgrelay does not publish ` +
          `${them} in "${publication}" (the application's UPDATE and DELETE would fail): not streamed. Fix: ` +
          `${errors.identityFixes(f.noIdentity)}, or list ${them} in insert_only_tables (only inserts stream)`,
      });
    }
    for (const [name, { tables, owned }] of f.updatesFail) {
      const them = tables.length === 1 ? 'it' : 'them';
      problems.push({
        code: UPDATES_FAIL,
        items: tables,
        message:
          `source ${source}: publication "${name}" publishes ${errors.listed(tables)} without a replica identity: ` +
          `the application's UPDATE and DELETE on ${them} fail. Fix: ${errors.identityFixes(tables)}` +
          (owned ? '' : `, or ALTER PUBLICATION ${quoteIdent(name)} DROP TABLE ...`),
      });
    }
    return problems;
  }

  private async inTransaction(client: pg.Client, what: string, work: () => Promise<void>): Promise<void> {
    await client.query('BEGIN');
    try {
      await work();
      await client.query('COMMIT');
    } catch (error) {
      await client.query('ROLLBACK').catch(() => undefined);
      if (errorCode(error) === '42501')
        throw errors.permissionDenied(this.settings.source, `${what}: ${errorMessage(error)}`, error);
      throw error;
    }
  }
}

/**
 * The keeper of a source's publications, named as publicationFor resolves them from the config and
 * the stored position (`stored`).
 */
export function keeperFor(
  source: string,
  config: PostgresSourceConfig,
  slot: string,
  stored: { meta: Record<string, unknown> } | undefined,
  context: { log: Logger; health: Health; metrics: Metrics },
): PublicationKeeper {
  const { name, origin } = publicationFor(source, config.publication, stored);
  if (origin === 'legacy')
    context.log.warn(
      { publication: name },
      `source ${source} keeps streaming publication "${name}", the default before defaults were per source; set publication = "${name}" to say so`,
    );
  const settings: PublicationSettings = {
    source,
    publication: name,
    insertOnly: config.insert_only_tables.length > 0 ? insertOnlyPublication(name) : undefined,
    slot,
    tables: config.tables.map((t) => (t === '*' ? t : qualify(t))),
    insertOnlyTables: config.insert_only_tables.map(qualify),
    create: config.create_publication,
  };
  return new PublicationKeeper(settings, context.log, context.health, context.metrics);
}

function noFindings(): Findings {
  return { missing: [], notPublished: new Map(), waiting: [], noIdentity: [], updatesFail: new Map() };
}

function qualifiedIdent(table: string): string {
  const dot = table.indexOf('.');
  return `${quoteIdent(table.slice(0, dot))}.${quoteIdent(table.slice(dot + 1))}`;
}

/** The slot's confirmed position: where a session without a stored position resumes; undefined without a slot. */
async function slotPosition(client: pg.Client, slot: string): Promise<Lsn | undefined> {
  const found = await client.query<{ lsn: string | null }>(
    'SELECT confirmed_flush_lsn::text AS lsn FROM pg_replication_slots WHERE slot_name = $1',
    [slot],
  );
  const lsn = found.rows[0]?.lsn;
  return lsn === undefined || lsn === null ? undefined : lsnToBigInt(lsn);
}

/** The keepers of every source sharing one Metrics registry, which the gauges (registered once) read. */
const registries = new WeakMap<Metrics, Set<PublicationKeeper>>();

function keepersOf(metrics: Metrics): Set<PublicationKeeper> {
  const known = registries.get(metrics);
  if (known !== undefined) return known;
  const keepers = new Set<PublicationKeeper>();
  registries.set(metrics, keepers);
  const gauge = (name: string, help: string, read: (counts: PublicationKeeper['counts']) => number) =>
    metrics.gauge(name, help, ['component', 'role', 'type'], (set) => {
      for (const keeper of keepers)
        set({ component: keeper.source, role: 'source', type: 'postgres' }, read(keeper.counts));
    });
  gauge(
    'pgrelay_source_unpublished_tables',
    'Tables a postgres source lists whose changes are not streamed (missing, unpublished, or refused for lack of a replica identity).',
    (c) => c.unpublished,
  );
  gauge(
    'pgrelay_source_tables_without_replica_identity',
    "Tables a source's publications publish without a replica identity: the application's UPDATE and DELETE on them fail.",
    (c) => c.withoutIdentity,
  );
  return keepers;
}
