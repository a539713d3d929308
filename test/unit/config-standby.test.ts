import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { parseConfig } from '../../src/runtime/config.js';

const config = (source: string) =>
  parseConfig(
    `[state]\npath = "state.db"\n[sources.db1]\ntype = "postgres"\ndsn = "postgres://x@h/app"\n${source}\n[sinks.out]\ntype = "stub"\nsources = ["db1"]\n`,
    'pgrelay.toml',
    {},
  );

describe('config: standby keys of a postgres source', () => {
  test('off by default; a standby checks every 2 s unless told otherwise', () => {
    const source = config('').sources.db1!;
    if (source.type !== 'postgres') assert.fail('a postgres source');
    assert.equal(source.standby, false);
    assert.equal(source.standby_interval, 2000);
    const tuned = config('standby = true\nstandby_interval = "500ms"').sources.db1!;
    if (tuned.type !== 'postgres') assert.fail('a postgres source');
    assert.equal(tuned.standby, true);
    assert.equal(tuned.standby_interval, 500);
  });

  test('standby needs a stream: snapshot = "initial_only" has none', () => {
    assert.doesNotThrow(() => config('standby = true\nsnapshot = "initial"'));
    assert.throws(
      () => config('standby = true\nsnapshot = "initial_only"'),
      /pgrelay\.toml: sources\.db1\.standby: standby = true takes turns on a stream, and snapshot = "initial_only" has none/,
    );
  });
});
