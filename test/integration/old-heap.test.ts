import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { heapRelays } from '../helpers/heap-relay.js';

const ROWS = 200_000;

/** old_heap_growth, through the gc() pgrelay exposes itself: full collections while a transaction streams. */
describe('old generation growth', () => {
  const { started, insert } = heapRelays('oldheap');

  test('a transaction streamed: collections with a step, none with 0, every row delivered', async () => {
    const withStep = await started('old_heap_growth = "1MB"', 'step');
    const without = await started('old_heap_growth = 0', 'off');
    await insert(ROWS);
    for (const relay of [withStep, without])
      await relay.waitForSink('out', `${ROWS} rows delivered`, (c) => c.events_out >= ROWS, 120_000);
    assert.ok(
      (await withStep.metric('pgrelay_old_heap_collections_total')) > 0,
      'collections with a 1 MB step',
    );
    assert.equal(await without.metric('pgrelay_old_heap_collections_total'), 0, 'none with 0');
  });
});
