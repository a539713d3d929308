import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { parseConfig } from '../../src/runtime/config.js';

const config = (source: string) =>
  parseConfig(
    `[state]\npath = "state.db"\n[sources.db1]\ntype = "postgres"\ndsn = "postgres://x@h/app"\n${source}\n[sinks.out]\ntype = "stub"\nsources = ["db1"]\n`,
    'pgrelay.toml',
    {},
  );

describe('config: snapshot keys of a postgres source', () => {
  test('defaults: no snapshot, chunks of 10000 rows, the tables of the source', () => {
    const source = config('tables = ["users"]').sources.db1!;
    assert.equal(source.type, 'postgres');
    if (source.type !== 'postgres') return;
    assert.equal(source.snapshot, 'never');
    assert.equal(source.snapshot_chunk, 10_000);
    assert.equal(source.snapshot_tables, undefined);
    assert.deepEqual(source.snapshot_where, {});
  });

  test('snapshot_where must name a table the snapshot reads', () => {
    assert.doesNotThrow(() =>
      config('tables = ["users"]\nsnapshot = "initial"\nsnapshot_where = { "public.users" = "id > 1" }'),
    );
    assert.doesNotThrow(() => config('tables = ["*"]\nsnapshot_where = { "anything" = "id > 1" }'));
    assert.doesNotThrow(() =>
      config('create_publication = false\nsnapshot_where = { "anything" = "id > 1" }'),
    );
    assert.throws(
      () =>
        config('tables = ["users"]\nsnapshot_tables = ["orders"]\nsnapshot_where = { "users" = "id > 1" }'),
      /pgrelay\.toml: sources\.db1\.snapshot_where\.users: "users" is not a table the snapshot reads \(public\.orders\)/,
    );
  });

  test('snapshot_where must be one SQL condition, never a way to run other statements', () => {
    assert.throws(
      () => config(`tables = ["users"]\nsnapshot_where = { users = "1=1); DROP TABLE victim; --" }`),
      /pgrelay\.toml: sources\.db1\.snapshot_where\.users: "1=1\); DROP TABLE victim; --" is not one SQL condition: "\)" at character 4/,
    );
    assert.throws(
      () => config(`tables = ["users"]\nsnapshot_where = { users = "" }`),
      /sources\.db1\.snapshot_where\.users: "" is not one SQL condition: it is empty/,
    );
  });

  test('refuses an unknown mode, "*" among snapshot_tables and a chunk of zero', () => {
    assert.throws(() => config('snapshot = "always"'), /sources\.db1\.snapshot: /);
    assert.throws(
      () => config('snapshot_tables = ["*"]'),
      /sources\.db1\.snapshot_tables\[0\]: expected "schema\.table"/,
    );
    assert.throws(() => config('snapshot_chunk = 0'), /sources\.db1\.snapshot_chunk: /);
  });
});
