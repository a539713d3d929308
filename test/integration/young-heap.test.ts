import assert from 'node:assert/strict';
import { setTimeout as sleep } from 'node:timers/promises';
import { after, before, describe, test } from 'node:test';
import { type CdcFixture, cdcFixture } from '../harness/cdc.js';
import type { PgrelayProcess } from '../harness/pgrelay.js';
import { heapRelay } from '../helpers/heap-relay.js';

const ROWS = 200_000;
const MB = 1024 * 1024;
const YOUNG = 'nodejs_heap_space_size_total_bytes{space="new"}';

/** young_heap_limit: V8's young generation while a transaction streams, with a limit and without. */
describe('young generation limit', () => {
  let fx: CdcFixture;
  const relays: PgrelayProcess[] = [];

  before(async () => {
    fx = await cdcFixture('youngheap');
    await fx.sql('CREATE TABLE items (id int PRIMARY KEY, note text)');
  });

  after(async () => {
    await Promise.all(relays.map((relay) => relay.destroy()));
  });

  async function started(setting: string, source: string): Promise<PgrelayProcess> {
    const relay = await heapRelay(fx, source, setting);
    relays.push(relay);
    await relay.start();
    return relay;
  }

  /** The young generation's largest size once half the rows were delivered, polled until all were. */
  async function largestYoungGeneration(relay: PgrelayProcess): Promise<number> {
    let largest = 0;
    for (;;) {
      const delivered = (await relay.stats()).sinks.out!.events_out;
      if (delivered >= ROWS / 2) largest = Math.max(largest, await relay.metric(YOUNG));
      if (delivered >= ROWS) return largest;
      await sleep(100);
    }
  }

  test('a transaction streamed: held at 16 MB by default, grown past it with 0', async () => {
    const limited = await started('', 'limited');
    const unlimited = await started('young_heap_limit = 0', 'unlimited');
    await fx.sql(`INSERT INTO items SELECT g, repeat(md5(g::text), 4) FROM generate_series(1, ${ROWS}) g`);
    const [withLimit, without] = await Promise.all([
      largestYoungGeneration(limited),
      largestYoungGeneration(unlimited),
    ]);
    assert.ok(withLimit > 0 && withLimit <= 16 * MB, `${withLimit / MB} MB with the default limit`);
    assert.ok(without > 16 * MB, `${without / MB} MB without a limit`);
  });
});
