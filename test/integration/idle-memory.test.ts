import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import type { MemoryRelease } from '../../src/runtime/idle-memory.js';
import { type CdcFixture, cdcFixture, postgresSource } from '../harness/cdc.js';
import { PgrelayProcess } from '../harness/pgrelay.js';
import { waitFor } from '../harness/processes.js';

const ROWS = 30_000;

/** The memory releases pgrelay logged so far, in order. */
function releases(relay: PgrelayProcess): MemoryRelease[] {
  return relay
    .log()
    .split('\n')
    .filter((line) => line.startsWith('{'))
    .map((line) => JSON.parse(line) as { msg: string; memory?: MemoryRelease })
    .filter((line) => line.msg.startsWith('idle: released memory') && line.memory !== undefined)
    .map((line) => line.memory!);
}

/** release_memory_when_idle, through the gc() pgrelay exposes itself: memory back after start-up and after a burst. */
describe('idle memory release', () => {
  let fx: CdcFixture;
  let relay: PgrelayProcess;

  before(async () => {
    fx = await cdcFixture('idlemem');
    await fx.sql('CREATE TABLE items (id int PRIMARY KEY, note text)');
    relay = await PgrelayProcess.create(
      `release_memory_when_idle = "1s"\n` +
        postgresSource('db', fx, ['items']) +
        `[sinks.out]\ntype = "stub"\nsources = ["db"]\n`,
    );
    await relay.start();
  });

  after(async () => {
    await relay?.destroy();
  });

  test('once idle after start-up, and again after a burst of rows, still relaying after each', async () => {
    await waitFor(
      'a release after start-up',
      () => Promise.resolve(releases(relay).length >= 1 ? true : undefined),
      30_000,
    );
    assert.ok((await relay.metric('pgrelay_memory_releases_total')) >= 1, 'counted in /metrics');
    const first = releases(relay)[0]!;
    assert.ok(first.heap_after > 0 && first.rss_after > 0, 'the sizes after are logged');

    const before = releases(relay).length;
    await fx.sql(`INSERT INTO items SELECT g, repeat(md5(g::text), 32) FROM generate_series(1, ${ROWS}) g`);
    await relay.waitForSink('out', `${ROWS} rows delivered`, (c) => c.events_out >= ROWS, 60_000);
    await waitFor(
      'a release after the burst',
      () => Promise.resolve(releases(relay).length > before ? true : undefined),
      30_000,
    );
    assert.equal(
      await relay.metric('pgrelay_memory_releases_total'),
      releases(relay).length,
      'every logged release is counted',
    );

    await fx.sql(`INSERT INTO items VALUES (${ROWS + 1}, 'after')`);
    await relay.waitForSink('out', `${ROWS + 1} rows delivered`, (c) => c.events_out >= ROWS + 1, 60_000);
  });
});
