import assert from 'node:assert/strict';
import os from 'node:os';
import path from 'node:path';
import { describe, test } from 'node:test';
import { Health } from '../../src/core/component.js';
import { PgRelayError } from '../../src/core/errors.js';
import { HandlerError } from '../../src/core/handler.js';
import { parseConfig } from '../../src/runtime/config.js';
import { keyToFixOf } from '../../src/runtime/keys-to-fix.js';

const config = parseConfig(
  `[sources.db1]
type = "postgres"
dsn = "postgres://cdc@db1/app"
[sources.edge]
type = "kafka"
brokers = ["k:9092"]
topics = ["in"]
group_id = "g"
[handlers.tenants]
type = "enrich"
set = { a = "b" }
[sinks.out]
type = "kafka"
sources = ["db1", "edge"]
brokers = ["k:9092"]
handlers = ["tenants", "passthrough"]
topic_fallback = "out"
[state]
path = "state.db"
`,
  path.join(os.tmpdir(), 'pgrelay.toml'),
  {},
);

const error = (code: string, message = 'it went wrong') => new PgRelayError(code, message);

/** A component that fails for good names the config key to fix, in its message and in /status. */
describe('the config key a failure names', () => {
  const db1 = keyToFixOf(config, 'source', 'db1');
  const edge = keyToFixOf(config, 'source', 'edge');
  const out = keyToFixOf(config, 'sink', 'out');

  test('PostgreSQL: credentials and the database in the dsn, the slot, the publication', () => {
    assert.deepEqual(
      db1(error('PGRELAY_PG_PERMISSION', 'source db1: permission denied: authentication failed: no')),
      { key: 'sources.db1.dsn', why: 'its user and password' },
    );
    assert.equal(
      db1(error('PGRELAY_PG_PERMISSION', 'must be superuser or replication role'))?.key,
      'sources.db1.dsn',
    );
    assert.equal(db1(error('PGRELAY_PG_DATABASE_MISSING'))?.key, 'sources.db1.dsn');
    assert.equal(db1(error('PGRELAY_PG_SLOT_NOT_FOUND'))?.key, 'sources.db1.slot');
    assert.equal(db1(error('PGRELAY_PG_PUBLICATION_MISSING'))?.key, 'sources.db1.publication');
    // The message of these says what to do; no key fixes them.
    assert.equal(db1(error('PGRELAY_PG_SLOT_MISSING')), undefined);
    assert.equal(db1(error('PGRELAY_PG_WAL_LEVEL')), undefined);
    assert.equal(db1(new Error('no code')), undefined);
  });

  test('Kafka: SASL, TLS and ACLs of the source or sink; topics', () => {
    assert.equal(out(error('PGRELAY_KAFKA_AUTH'))?.key, 'sinks.out.sasl.password');
    assert.equal(edge(error('PGRELAY_KAFKA_AUTH'))?.key, 'sources.edge.sasl.password');
    assert.equal(out(error('PGRELAY_KAFKA_TLS'))?.key, 'sinks.out.tls.ca_file');
    assert.equal(out(error('PGRELAY_KAFKA_FORBIDDEN'))?.key, 'sinks.out.sasl.username');
    assert.equal(out(error('PGRELAY_KAFKA_UNKNOWN_TOPIC'))?.key, 'sinks.out.topic_map');
    assert.equal(edge(error('PGRELAY_KAFKA_UNKNOWN_TOPIC'))?.key, 'sources.edge.topics');
    assert.equal(edge(error('PGRELAY_KAFKA_DEAD_LETTER'))?.key, 'sources.edge.dead_letter_topic');
  });

  test('a handler that threw: its table, or the sink list for a built-in one', () => {
    assert.equal(out(new HandlerError('tenants', undefined, new Error('boom')))?.key, 'handlers.tenants');
    assert.equal(
      out(new HandlerError('passthrough', undefined, new Error('boom')))?.key,
      'sinks.out.handlers',
    );
  });

  test('the key joins the failure message and /status', () => {
    const health = new Health();
    const failure = error('PGRELAY_PG_SLOT_NOT_FOUND', 'source db1: replication slot "s" does not exist');
    health.set('failed', failure, db1(failure));
    assert.deepEqual(
      { message: health.lastError?.message, key: health.lastError?.config_key },
      {
        message:
          'source db1: replication slot "s" does not exist; fix sources.db1.slot ' +
          '(create the slot, name an existing one, or set create_slot = true)',
        key: 'sources.db1.slot',
      },
    );
  });
});
