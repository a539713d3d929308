import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import {
  IdleMemory,
  type IdleMemoryProbe,
  RELEASE_GROWTH_BYTES,
  processProbe,
} from '../../src/runtime/idle-memory.js';
import { capturedLogger } from '../helpers/log.js';

const MB = 1024 * 1024;

/** A probe whose activity and heap the test sets; a collection shrinks the heap to `after`. */
function fakeProbe(withCollect = true) {
  const state = { activity: 0, heap: 100 * MB, after: 20 * MB, collections: 0 };
  const probe: IdleMemoryProbe = {
    activity: () => state.activity,
    heapSize: () => state.heap,
    rss: () => state.heap + 60 * MB,
    collect: withCollect
      ? () => {
          state.collections += 1;
          state.heap = state.after;
        }
      : undefined,
  };
  return { state, probe };
}

describe('idle memory release', () => {
  test('releases once no event moved for a whole check interval, and logs the sizes', () => {
    const { state, probe } = fakeProbe();
    const { log, lines } = capturedLogger();
    const idle = new IdleMemory(probe, log);
    assert.equal(idle.check(), undefined, 'the first check has nothing to compare with');
    const release = idle.check();
    assert.ok(release !== undefined);
    assert.equal(state.collections, 1);
    assert.deepEqual(
      [release.heap_before, release.heap_after, release.rss_before, release.rss_after],
      [100 * MB, 20 * MB, 160 * MB, 80 * MB],
    );
    assert.equal(idle.releases, 1);
    assert.deepEqual(idle.last, release);
    const line = lines.find((l) => l.msg.startsWith('idle: released memory'));
    assert.ok(line, 'a log line says so');
    assert.match(line.msg, /RSS 160 → 80 MB, heap 100 → 20 MB/);
  });

  test('does not collect while events move', () => {
    const { state, probe } = fakeProbe();
    const idle = new IdleMemory(probe, capturedLogger().log);
    for (let i = 0; i < 5; i++) {
      state.activity += 1;
      assert.equal(idle.check(), undefined);
    }
    assert.equal(state.collections, 0);
    idle.check();
    assert.equal(state.collections, 1, 'the first quiet interval releases');
  });

  test('collects again only after the heap grew since the last release', () => {
    const { state, probe } = fakeProbe();
    const idle = new IdleMemory(probe, capturedLogger().log);
    idle.check();
    idle.check();
    assert.equal(state.collections, 1);
    for (let i = 0; i < 3; i++) idle.check();
    assert.equal(
      state.collections,
      1,
      'idle with the heap as small as after the release: nothing to give back',
    );
    state.activity += 1;
    state.heap = state.after + RELEASE_GROWTH_BYTES - 1;
    idle.check();
    idle.check();
    assert.equal(state.collections, 1, 'grown by less than the threshold');
    state.activity += 1;
    state.heap = 150 * MB;
    idle.check();
    assert.ok(idle.check() !== undefined, 'a burst that grew the heap is released after it');
    assert.equal(state.collections, 2);
  });

  test('without gc it warns once when scheduled and never collects', () => {
    const { state, probe } = fakeProbe(false);
    const { log, lines } = capturedLogger();
    const idle = new IdleMemory(probe, log);
    idle.schedule(10_000);
    idle.schedule(10_000);
    idle.check();
    idle.check();
    idle.stop();
    assert.equal(state.collections, 0);
    const warnings = lines.filter((l) => l.level === 'warn');
    assert.equal(warnings.length, 1);
    assert.match(warnings[0]!.msg, /release_memory_when_idle: V8 would not expose gc\(\)/);
  });

  test('"off" schedules nothing and warns about nothing', () => {
    const { probe } = fakeProbe(false);
    const { log, lines } = capturedLogger();
    new IdleMemory(probe, log).schedule(undefined);
    assert.equal(lines.length, 0);
  });

  test("the process probe collects without --expose-gc on node's command line", () => {
    assert.equal(typeof globalThis.gc, 'undefined', 'make test runs node without --expose-gc');
    const probe = processProbe(() => 7);
    assert.equal(probe.activity(), 7);
    assert.ok(probe.rss() > 0);
    let garbage: unknown[] | undefined = Array.from({ length: 500_000 }, (_, i) => ({ i, text: `row ${i}` }));
    const withGarbage = probe.heapSize();
    assert.ok(garbage.length > 0);
    garbage = undefined;
    assert.ok(probe.collect !== undefined);
    probe.collect();
    const after = probe.heapSize();
    assert.ok(after < withGarbage - 20 * MB, `heap ${withGarbage} → ${after} bytes`);
  });
});
