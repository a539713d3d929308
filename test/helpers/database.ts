import { waitFor } from '../harness/processes.js';
import { sharedPostgres } from '../harness/services.js';

/**
 * A fresh database on the shared PostgreSQL with table public.t (id primary key), and the source
 * tables that read it: the source creates publication and slot itself. Slots are cluster-wide, so
 * each database gets its own.
 */
export async function sourceDatabase(prefix: string) {
  const postgres = await sharedPostgres();
  const database = await postgres.createDatabase(prefix);
  await postgres.query('CREATE TABLE t (id integer PRIMARY KEY, name text)', [], database);
  const slot = `pgrelay_${database}`;
  return {
    postgres,
    database,
    slot,
    dsn: postgres.urlFor(database),
    sourceToml(name = 'db1'): string {
      return `[sources.${name}]\ntype = "postgres"\ndsn = "${postgres.urlFor(database)}"\nslot = "${slot}"\ntables = ["public.t"]\nstatus_interval = "1s"\n`;
    },
    /** Inserts rows first..first+count-1 in one transaction. */
    async insert(first: number, count = 1): Promise<void> {
      await postgres.query(
        "INSERT INTO t SELECT g, 'row ' || g FROM generate_series($1::int, $2::int) g",
        [first, first + count - 1],
        database,
      );
    },
    /** Drops the slot once its walsender let go of it, so it pins no WAL for the rest of the run. */
    async dropSlot(): Promise<void> {
      await waitFor(
        `slot ${slot} to be released`,
        async () => {
          await postgres.query(
            'SELECT pg_drop_replication_slot(slot_name) FROM pg_replication_slots WHERE slot_name = $1',
            [slot],
          );
          return true;
        },
        30_000,
      );
    },
  };
}
