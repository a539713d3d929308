import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { type CdcFixture, cdcFixture } from '../harness/cdc.js';
import type { PgrelayProcess } from '../harness/pgrelay.js';
import { heapRelay } from '../helpers/heap-relay.js';

const ROWS = 200_000;

/** old_heap_growth, through the gc() pgrelay exposes itself: full collections while a transaction streams. */
describe('old generation growth', () => {
  let fx: CdcFixture;
  const relays: PgrelayProcess[] = [];

  before(async () => {
    fx = await cdcFixture('oldheap');
    await fx.sql('CREATE TABLE items (id int PRIMARY KEY, note text)');
  });

  after(async () => {
    await Promise.all(relays.map((relay) => relay.destroy()));
  });

  async function started(setting: string, source: string): Promise<PgrelayProcess> {
    const relay = await heapRelay(fx, source, `old_heap_growth = ${setting}`);
    relays.push(relay);
    await relay.start();
    return relay;
  }

  test('a transaction streamed: collections with a step, none with 0, every row delivered', async () => {
    const withStep = await started('"1MB"', 'step');
    const without = await started('0', 'off');
    await fx.sql(`INSERT INTO items SELECT g, repeat(md5(g::text), 4) FROM generate_series(1, ${ROWS}) g`);
    for (const relay of [withStep, without])
      await relay.waitForSink('out', `${ROWS} rows delivered`, (c) => c.events_out >= ROWS, 120_000);
    assert.ok(
      (await withStep.metric('pgrelay_old_heap_collections_total')) > 0,
      'collections with a 1 MB step',
    );
    assert.equal(await without.metric('pgrelay_old_heap_collections_total'), 0, 'none with 0');
  });
});
