import { after, before } from 'node:test';
import { type CdcFixture, cdcFixture, postgresSource } from '../harness/cdc.js';
import { PgrelayProcess } from '../harness/pgrelay.js';

/**
 * A heap test's database and pgrelays, set up and torn down by the enclosing describe(): a fixture
 * `name` with an items table, and `started(settings, source)`, a running pgrelay that streams that
 * table into a stub sink named "out", with the top-level keys `settings` and no idle release. Its
 * batches are large (10,000 events), so events outlive young collections as a slow sink's do: V8's
 * heap grows as it does under load.
 */
export function heapRelays(name: string) {
  let fixture: CdcFixture | undefined;
  const relays: PgrelayProcess[] = [];
  before(async () => {
    fixture = await cdcFixture(name);
    await fixture.sql('CREATE TABLE items (id int PRIMARY KEY, note text)');
  });
  after(async () => {
    await Promise.all(relays.map((relay) => relay.destroy()));
  });
  return {
    started: async (settings: string, source: string): Promise<PgrelayProcess> => {
      const relay = await PgrelayProcess.create(
        `${settings}\nrelease_memory_when_idle = "off"\n` +
          postgresSource(source, fixture!, ['items']) +
          `[sinks.out]\ntype = "stub"\nsources = ["${source}"]\nbatch_size = 10000\n`,
      );
      relays.push(relay);
      await relay.start();
      return relay;
    },
    /** Inserts `rows` rows into items in one transaction. */
    insert: async (rows: number): Promise<void> => {
      await fixture!.sql(
        `INSERT INTO items SELECT g, repeat(md5(g::text), 4) FROM generate_series(1, ${rows}) g`,
      );
    },
  };
}
