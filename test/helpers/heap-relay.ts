import { type CdcFixture, postgresSource } from '../harness/cdc.js';
import { PgrelayProcess } from '../harness/pgrelay.js';

/**
 * A pgrelay (not started) that streams `fixture`'s items table into a stub sink named "out", with the
 * top-level keys `settings` and no idle release. Its batches are large (10,000 events), so events
 * outlive young collections as a slow sink's do: V8's heap grows as it does under load.
 */
export async function heapRelay(
  fixture: CdcFixture,
  source: string,
  settings: string,
): Promise<PgrelayProcess> {
  return PgrelayProcess.create(
    `${settings}\nrelease_memory_when_idle = "off"\n` +
      postgresSource(source, fixture, ['items']) +
      `[sinks.out]\ntype = "stub"\nsources = ["${source}"]\nbatch_size = 10000\n`,
  );
}
