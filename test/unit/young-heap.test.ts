import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { describe, test } from 'node:test';
import { YoungHeapLimit, type YoungHeapProbe, growthFactorFrom } from '../../src/runtime/young-heap.js';
import { capturedLogger } from '../helpers/log.js';

const MB = 1024 * 1024;

/** A probe whose young generation the test sets, recording each growth factor set. */
function fakeProbe() {
  const state = { young: 1 * MB, factors: [] as number[] };
  const probe: YoungHeapProbe = {
    youngBytes: () => state.young,
    setGrowthFactor: (factor) => void state.factors.push(factor),
  };
  return { state, probe };
}

describe('young generation limit', () => {
  test('V8 may double it while that stays within the limit, and no further', () => {
    const { state, probe } = fakeProbe();
    const limit = new YoungHeapLimit(probe, capturedLogger().log, 2);
    limit.set(16 * MB);
    try {
      assert.deepEqual(state.factors, [], 'V8 grows it as it would');
      state.young = 8 * MB;
      limit.afterYoungCollection();
      assert.deepEqual(state.factors, [], '8 MB may become 16');
      state.young = 16 * MB;
      limit.afterYoungCollection();
      limit.afterYoungCollection();
      assert.deepEqual(state.factors, [1], 'held at 16 MB, set once');
    } finally {
      limit.stop();
    }
  });

  test('a limit between two doublings holds it below; 0 lets it grow again', () => {
    const { state, probe } = fakeProbe();
    state.young = 8 * MB;
    const limit = new YoungHeapLimit(probe, capturedLogger().log, 2);
    limit.set(12 * MB);
    assert.deepEqual(state.factors, [1]);
    limit.set(0);
    assert.deepEqual(state.factors, [1, 2]);
    state.young = 32 * MB;
    limit.afterYoungCollection();
    assert.deepEqual(state.factors, [1, 2], 'no limit');
  });

  test('grown to twice where it stopped: one warning; a few pages more: none', () => {
    const { state, probe } = fakeProbe();
    const { log, lines } = capturedLogger();
    state.young = 16 * MB;
    const limit = new YoungHeapLimit(probe, log, 2);
    limit.set(16 * MB);
    state.young = 20.75 * MB;
    limit.afterYoungCollection();
    assert.equal(lines.length, 0, 'pages held for a collection or two');
    state.young = 32 * MB;
    limit.afterYoungCollection();
    limit.afterYoungCollection();
    const warnings = lines.filter((line) => line.level === 'warn' && line.key === 'young_heap_limit');
    assert.equal(warnings.length, 1);
    assert.match(String(warnings[0]!.msg), /young generation grew to 32 MB, past the limit of 16 MB/);
  });

  test('lowered below its size at a reload, it stays there without a warning', () => {
    const { state, probe } = fakeProbe();
    const { log, lines } = capturedLogger();
    state.young = 32 * MB;
    const limit = new YoungHeapLimit(probe, log, 2);
    limit.set(8 * MB);
    limit.afterYoungCollection();
    assert.deepEqual(state.factors, [1]);
    assert.equal(lines.length, 0);
  });

  test("the operator's growth factor is the one restored", () => {
    assert.equal(growthFactorFrom(['--max-semi-space-size=16', '--semi-space-growth-factor=4']), 4);
    assert.equal(growthFactorFrom(['--semi_space_growth_factor=3']), 3);
    assert.equal(growthFactorFrom(['--semi-space-growth-factor=x']), 2);
    assert.equal(growthFactorFrom([]), 2);
    const { state, probe } = fakeProbe();
    state.young = 4 * MB;
    const limit = new YoungHeapLimit(probe, capturedLogger().log, 4);
    limit.set(16 * MB);
    assert.deepEqual(state.factors, [], '4 MB may become 16 by a factor of 4');
    limit.set(8 * MB);
    limit.set(0);
    assert.deepEqual(state.factors, [1, 4]);
  });

  /**
   * The young generation's largest size over the second half of a child node's run whose objects
   * survive a while, with `limit` set. While it grows, V8 may hold pages beyond its capacity for a
   * collection or two (measured: up to 20.75 MB with a 16 MB limit, in 4 of 12 runs; never later).
   */
  function largestYoungGeneration(limit: number): number {
    const module = new URL('../../src/runtime/young-heap.js', import.meta.url).href;
    const script = `
      import { YoungHeapLimit, processYoungHeap } from ${JSON.stringify(module)};
      const probe = processYoungHeap();
      new YoungHeapLimit(probe, { warn() {} }).set(${limit});
      let largest = 0;
      const kept = new Array(50000);
      for (let i = 0; i < 1500000; i++) {
        kept[i % kept.length] = { id: 'row ' + i, n: i };
        if (i % 10000 === 0) {
          if (i >= 750000) largest = Math.max(largest, probe.youngBytes());
          await new Promise((resolve) => setImmediate(resolve));
        }
      }
      process.stdout.write(String(largest));`;
    const out = execFileSync(
      process.execPath,
      ['--max-semi-space-size=16', '--input-type=module', '-e', script],
      { encoding: 'utf8' },
    );
    return Number(out);
  }

  test('in a real process, the young generation stops at the limit', () => {
    const limited = largestYoungGeneration(16 * MB);
    const unlimited = largestYoungGeneration(0);
    assert.ok(limited > 0 && limited <= 16 * MB, `${limited / MB} MB with a 16 MB limit`);
    assert.ok(unlimited > 16 * MB, `${unlimited / MB} MB without a limit`);
  });
});
