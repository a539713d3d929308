import assert from 'node:assert/strict';
import { setImmediate as nextTurn } from 'node:timers/promises';
import { describe, test } from 'node:test';
import {
  AUTO_OLD_HEAP_GROWTH,
  OldHeapGrowth,
  type OldHeapProbe,
  oldHeapGrowth,
} from '../../src/runtime/old-heap.js';
import { fullCollectionsIn } from '../helpers/full-collections.js';
import { capturedLogger } from '../helpers/log.js';

const MB = 1024 * 1024;

/** A probe whose old generation the test sets; a collection brings it back to `after`. */
function fakeProbe(withCollect = true) {
  const state = { old: 10 * MB, after: 10 * MB, collections: 0 };
  const probe: OldHeapProbe = {
    oldBytes: () => state.old,
    collect: withCollect
      ? () => {
          state.collections += 1;
          state.old = state.after;
        }
      : undefined,
  };
  return { state, probe };
}

describe('old generation growth', () => {
  test('collects once the old generation grew by the step, in the next turn, once', async () => {
    const { state, probe } = fakeProbe();
    const growth = new OldHeapGrowth(probe, capturedLogger().log);
    growth.schedule(8 * MB);
    try {
      state.old = 17.9 * MB;
      growth.afterYoungCollection();
      await nextTurn();
      assert.equal(state.collections, 0, 'grown by less than the step');

      state.old = 18 * MB;
      growth.afterYoungCollection();
      growth.afterYoungCollection();
      assert.equal(state.collections, 0, 'not inside the young collection');
      await nextTurn();
      assert.equal(state.collections, 1, 'one collection for both');
      assert.equal(growth.collections, 1);

      state.old = 17 * MB;
      growth.afterYoungCollection();
      await nextTurn();
      assert.equal(state.collections, 0 + 1, 'measured from what the collection left');
    } finally {
      growth.stop();
    }
  });

  test('a large live heap may grow by a quarter of itself before a collection', async () => {
    const { state, probe } = fakeProbe();
    state.old = state.after = 40 * MB;
    const growth = new OldHeapGrowth(probe, capturedLogger().log);
    growth.schedule(8 * MB);
    try {
      state.old = 49 * MB;
      growth.afterYoungCollection();
      await nextTurn();
      assert.equal(state.collections, 0);
      state.old = 50 * MB;
      growth.afterYoungCollection();
      await nextTurn();
      assert.equal(state.collections, 1);
    } finally {
      growth.stop();
    }
  });

  test("V8's own full collection moves the base", async () => {
    const { state, probe } = fakeProbe();
    const growth = new OldHeapGrowth(probe, capturedLogger().log);
    growth.schedule(8 * MB);
    try {
      state.old = 15 * MB;
      growth.afterFullCollection();
      state.old = 22 * MB;
      growth.afterYoungCollection();
      await nextTurn();
      assert.equal(state.collections, 0);
    } finally {
      growth.stop();
    }
  });

  test('0 leaves it to V8; without gc() it says so once and collects nothing', async () => {
    const off = fakeProbe();
    const growth = new OldHeapGrowth(off.probe, capturedLogger().log);
    growth.schedule(0);
    off.state.old = 100 * MB;
    growth.afterYoungCollection();
    await nextTurn();
    assert.equal(off.state.collections, 0);

    const { log, lines } = capturedLogger();
    const without = new OldHeapGrowth(fakeProbe(false).probe, log);
    without.schedule(8 * MB);
    without.schedule(4 * MB);
    without.afterYoungCollection();
    assert.equal(without.collections, 0);
    assert.equal(lines.filter((l) => l.level === 'warn' && l.key === 'old_heap_growth').length, 1);
  });

  test('"auto" is 8 MB where a PostgreSQL source runs, else 0; a value set is kept either way', () => {
    assert.equal(oldHeapGrowth('auto', ['postgres']), AUTO_OLD_HEAP_GROWTH);
    assert.equal(AUTO_OLD_HEAP_GROWTH, 8 * MB);
    assert.equal(oldHeapGrowth('auto', ['postgres', 'kafka']), AUTO_OLD_HEAP_GROWTH);
    assert.equal(oldHeapGrowth('auto', ['kafka']), 0);
    assert.equal(oldHeapGrowth('auto', []), 0);
    assert.equal(oldHeapGrowth(4 * MB, ['kafka']), 4 * MB);
    assert.equal(oldHeapGrowth(0, ['postgres']), 0);
  });

  test('in a real process, objects promoted steadily bring more full collections', () => {
    // Objects kept for a while outlive young collections; dropped later, only full collections free them.
    const script = (step: number) => `
      import { OldHeapGrowth, processOldHeap } from ${JSON.stringify(new URL('../../src/runtime/old-heap.js', import.meta.url).href)};
      const log = { warn() {} };
      const growth = new OldHeapGrowth(processOldHeap(), log);
      growth.schedule(${step});
      const kept = new Array(60000);
      for (let i = 0; i < 3000000; i++) {
        kept[i % kept.length] = { id: 'row ' + i, columns: { n: i, text: 'x'.repeat(20) + i } };
        if (i % 100000 === 0) await new Promise((resolve) => setImmediate(resolve));
      }
      growth.stop();`;
    const withStep = fullCollectionsIn(script(4 * MB), ['--max-semi-space-size=4']);
    const without = fullCollectionsIn(script(0), ['--max-semi-space-size=4']);
    assert.ok(withStep > without, `full collections: ${withStep} with a 4 MB step, ${without} without`);
  });
});
