import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { parseConfig } from '../../src/runtime/config.js';
import { insertOnlyPublication, publicationFor } from '../../src/sources/postgres/config.js';

const config = (sources: string) =>
  parseConfig(
    `[state]\npath = "state.db"\n${sources}\n[sinks.out]\ntype = "stub"\nsources = ["db1"]\n`,
    'pgrelay.toml',
    {},
  );

const source = (name: string, keys: string, dsn = 'postgres://x@h/app') =>
  `[sources.${name}]\ntype = "postgres"\ndsn = "${dsn}"\nslot = "slot_${name}"\n${keys}\n`;

describe('config: the publication of a postgres source', () => {
  test('the publication: configured, else as the stored position recorded it, else "pgrelay" for older positions, else per source', () => {
    assert.deepEqual(publicationFor('db1', 'mine', { meta: { publication: 'other' } }), {
      name: 'mine',
      origin: 'configured',
    });
    assert.deepEqual(publicationFor('db1', undefined, { meta: { slot: 's', publication: 'pgrelay_db1' } }), {
      name: 'pgrelay_db1',
      origin: 'stored',
    });
    assert.deepEqual(publicationFor('db1', undefined, { meta: { slot: 's' } }), {
      name: 'pgrelay',
      origin: 'legacy',
    });
    assert.deepEqual(publicationFor('Orders-EU', undefined, undefined), {
      name: 'pgrelay_orders_eu',
      origin: 'default',
    });
    const parsed = config(source('db1', 'tables = ["users"]')).sources.db1!;
    assert.equal(parsed.type === 'postgres' && parsed.publication, undefined, 'no default in the schema');
  });

  test('insert_only_tables lists tables of tables, with pgrelay creating the publication', () => {
    const parsed = config(
      source('db1', 'tables = ["users", "public.audit_log"]\ninsert_only_tables = ["audit_log"]'),
    ).sources.db1!;
    assert.deepEqual(parsed.type === 'postgres' && parsed.insert_only_tables, ['audit_log']);
    assert.throws(
      () => config(source('db1', 'tables = ["users"]\ninsert_only_tables = ["audit_log"]')),
      /pgrelay\.toml: sources\.db1\.insert_only_tables\[0\]: "audit_log" is not in tables: list it there too/,
    );
    assert.throws(
      () => config(source('db1', 'tables = ["*"]\ninsert_only_tables = ["audit_log"]')),
      /sources\.db1\.insert_only_tables\[0\]: "audit_log" is not in tables/,
    );
    assert.throws(
      () =>
        config(
          source(
            'db1',
            'tables = ["audit_log"]\ninsert_only_tables = ["audit_log"]\ncreate_publication = false',
          ),
        ),
      /sources\.db1\.insert_only_tables: needs create_publication = true/,
    );
    assert.equal(insertOnlyPublication('pgrelay_db1'), 'pgrelay_db1_insert_only');
    assert.equal(insertOnlyPublication('p'.repeat(63)).length, 63);
  });

  test('two sources may not both create one publication on one database, however the DSNs spell it', () => {
    const shared = 'tables = ["users"]\npublication = "shared"';
    assert.throws(
      () =>
        config(
          source('db1', shared) +
            source('db2', shared, 'host=h dbname=app port=5432 sslmode=disable') +
            '[sinks.more]\ntype = "stub"\nsources = ["db2"]\n',
        ),
      /sources\.db2\.publication: sources "db1" and "db2" would share publication "shared" on h:5432\/app/,
    );
    assert.doesNotThrow(() =>
      config(
        source('db1', `${shared}\ncreate_publication = false`) +
          source('db2', `${shared}\ncreate_publication = false`) +
          '[sinks.more]\ntype = "stub"\nsources = ["db2"]\n',
      ),
    );
    assert.doesNotThrow(
      () =>
        config(
          source('db1', 'tables = ["users"]') +
            source('db2', 'tables = ["orders"]') +
            '[sinks.more]\ntype = "stub"\nsources = ["db2"]\n',
        ),
      'the default publications are per source',
    );
  });
});
