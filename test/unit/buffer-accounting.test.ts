import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { wantsBufferAccounting } from '../../src/runtime/buffer-accounting.js';
import { fullCollectionsIn } from '../helpers/full-collections.js';

describe('counting Buffers by what they hold', () => {
  test('is asked of V8 13.0 to 14.7 only, unless node was told either way', () => {
    assert.equal(wantsBufferAccounting('13.6.233.17-node.53', []), true, 'Node 24');
    assert.equal(wantsBufferAccounting('14.7.1', ['--expose-gc']), true);
    assert.equal(wantsBufferAccounting('12.4.254.21-node.21', []), false, 'Node 22 refuses the flag');
    assert.equal(wantsBufferAccounting('14.8.0', []), false, 'the default from V8 14.8 on');
    assert.equal(wantsBufferAccounting('15.0.0', []), false);
    assert.equal(wantsBufferAccounting('13.6.0', ['--no-external-memory-accounted-in-global-limit']), false);
    assert.equal(wantsBufferAccounting('13.6.0', ['--external_memory_accounted_in_global_limit']), false);
  });

  /** Full collections in a node that keeps a heap and drops 1 GB of 512 KB Buffers, after `setup`. */
  function fullCollections(setup: string): number {
    const module = new URL('../../src/runtime/buffer-accounting.js', import.meta.url).href;
    return fullCollectionsIn(`
      import { countBuffersByWhatTheyHold } from ${JSON.stringify(module)};
      ${setup}
      globalThis.kept = Array.from({ length: 200000 }, (_, i) => ({ i, text: 'row ' + i }));
      for (let i = 0; i < 2000; i++) Buffer.allocUnsafe(512 * 1024)[0] = i;`);
  }

  test(
    'makes dropped Buffers start far fewer full collections',
    { skip: !wantsBufferAccounting(process.versions.v8, []) },
    () => {
      const without = fullCollections('');
      const withIt = fullCollections('countBuffersByWhatTheyHold();');
      assert.ok(without >= 4, `without it, ${without} full collections`);
      assert.ok(withIt * 4 <= without, `${withIt} full collections with it against ${without} without`);
    },
  );
});
