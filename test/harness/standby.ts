import type { CdcFixture } from './cdc.js';
import type { PgrelayProcess } from './pgrelay.js';

/** The slot every standby test's source `db` streams. */
export function standbySlot(fixture: CdcFixture): string {
  return `pgrelay_db_${fixture.database}`;
}

/**
 * TOML for source `db` with standby = true, as each of several pgrelay processes runs it: the same
 * slot and publication; `app` (application_name) tells the instances' connections apart.
 */
export function standbySource(
  fixture: CdcFixture,
  tables: string[],
  app: string,
  /** `publication`: null leaves it unset (the source resolves it, see publicationFor). */
  options: { interval?: string; retryInitial?: string; extra?: string; publication?: string | null } = {},
): string {
  return `
[sources.db]
type = "postgres"
dsn = "${fixture.dsn}"
slot = "${standbySlot(fixture)}"
${options.publication === null ? '' : `publication = "${options.publication ?? 'pgrelay_db'}"`}
tables = ${JSON.stringify(tables)}
application_name = "${app}"
standby = true
${options.interval === undefined ? '' : `standby_interval = "${options.interval}"`}
status_interval = "500ms"
retry_initial = "${options.retryInitial ?? '200ms'}"
retry_max = "5s"
${options.extra ?? ''}
`;
}

/** The state source `db` of `relay` reports in /status. */
export async function sourceState(relay: PgrelayProcess): Promise<string | undefined> {
  try {
    return (await relay.status()).sources.db?.state;
  } catch {
    // Not answering (just killed, or not listening yet).
    return undefined;
  }
}

/** The application_name of the walsender streaming the slot now; undefined when none does. */
export async function streamingApp(fixture: CdcFixture): Promise<string | undefined> {
  const rows = await fixture.sql<{ app: string | null }>(
    `SELECT a.application_name AS app FROM pg_replication_slots s
       JOIN pg_stat_activity a ON a.pid = s.active_pid WHERE s.slot_name = $1`,
    [standbySlot(fixture)],
  );
  return rows[0]?.app ?? undefined;
}

/**
 * A trigger logging every position pgrelay stores in pgrelay.positions (which exists once an
 * instance held the lease): who stored it, what, and when by the server's clock.
 */
export async function logPositionWrites(fixture: CdcFixture): Promise<void> {
  await fixture.sql(`
    CREATE TABLE position_log (holder text, lsn pg_lsn, at timestamptz DEFAULT clock_timestamp());
    CREATE FUNCTION log_position() RETURNS trigger LANGUAGE plpgsql AS $$
      BEGIN INSERT INTO public.position_log (holder, lsn) VALUES (NEW.holder, NEW.lsn); RETURN NEW; END $$;
    CREATE TRIGGER log_position AFTER INSERT OR UPDATE ON pgrelay.positions
      FOR EACH ROW EXECUTE FUNCTION log_position();`);
}

export interface PositionWrite {
  holder: string;
  lsn: string;
  /** pg_lsn minus 0/0: comparable as a number. */
  bytes: number;
  at: Date;
}

export async function positionWrites(fixture: CdcFixture): Promise<PositionWrite[]> {
  const rows = await fixture.sql<{ holder: string; lsn: string; bytes: string; at: Date }>(
    `SELECT holder, lsn::text AS lsn, (lsn - '0/0')::text AS bytes, at FROM position_log ORDER BY at`,
  );
  return rows.map((r) => ({ ...r, bytes: Number(r.bytes) }));
}

/** pgrelay's name for itself in pgrelay.positions.holder: host:pid. */
export function holderOf(relay: PgrelayProcess, hostname: string): string {
  return `${hostname}:${relay.pid}`;
}
