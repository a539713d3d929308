import assert from 'node:assert/strict';
import { setTimeout as sleep } from 'node:timers/promises';
import { describe, test } from 'node:test';
import type { PgrelayProcess } from '../harness/pgrelay.js';
import { heapRelays } from '../helpers/heap-relay.js';

const ROWS = 200_000;
const MB = 1024 * 1024;
const YOUNG = 'nodejs_heap_space_size_total_bytes{space="new"}';

/** young_heap_limit: V8's young generation while a transaction streams, with a limit and without. */
describe('young generation limit', () => {
  const { started, insert } = heapRelays('youngheap');

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
    await insert(ROWS);
    const [withLimit, without] = await Promise.all([
      largestYoungGeneration(limited),
      largestYoungGeneration(unlimited),
    ]);
    assert.ok(withLimit > 0 && withLimit <= 16 * MB, `${withLimit / MB} MB with the default limit`);
    assert.ok(without > 16 * MB, `${without / MB} MB without a limit`);
  });
});
