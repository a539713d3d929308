import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { displayConfig, maskDsn } from '../../src/config/display.js';
import { parseConfig } from '../../src/runtime/config.js';
import { configSchema } from '../../src/runtime/config-schema.js';

describe('maskDsn', () => {
  test('hides the password of URLs and key=value strings, however it is written', () => {
    const cases: [string, string][] = [
      ['postgres://cdc:s3cret@db1:5432/app', 'postgres://cdc:***@db1:5432/app'],
      ['postgresql://cdc:s3cr%40t@db1/app', 'postgresql://cdc:***@db1/app'],
      // URL parsers split at the last "@": the password is "p@ss", all of it must go.
      ['postgres://cdc:p@ss@db1/app', 'postgres://cdc:***@db1/app'],
      ['postgres://me@corp:pw@db1/app', 'postgres://me@corp:***@db1/app'],
      [
        'postgres://cdc@db1/app?sslmode=require&password=s3cret',
        'postgres://cdc@db1/app?sslmode=require&password=***',
      ],
      ['postgres://cdc@db1/app?password=a&password=b', 'postgres://cdc@db1/app?password=***&password=***'],
      ['host=db1 user=cdc password=s3cret dbname=app', 'host=db1 user=cdc password=*** dbname=app'],
      ["host=db1 password='a b\\' c' dbname=app", 'host=db1 password=*** dbname=app'],
      ['host=db1 password = s3cret', 'host=db1 password = ***'],
      ['host=db1 sslpassword=keypw', 'host=db1 sslpassword=***'],
    ];
    for (const [dsn, masked] of cases) assert.equal(maskDsn(dsn), masked, dsn);
  });

  test('leaves a DSN without a password as it is', () => {
    for (const dsn of ['postgres://cdc@db1/app', 'postgres://db1/app?sslmode=require', 'host=db1 user=cdc']) {
      assert.equal(maskDsn(dsn), dsn);
    }
  });
});

const CONFIG = `
shutdown_timeout = "90s"
stats_interval = "off"
[state]
path = "/tmp/state.db"
[sources.db1]
type = "postgres"
dsn = "postgres://cdc:\${DB_PASSWORD}@db1:5432/app"
wal_retain = "1GB"
heartbeat = "10s"
[handlers.tag]
type = "enrich"
mask = ["email"]
mask_salt = "\${SALT}"
[sinks.main]
type = "kafka"
sources = ["db1"]
handlers = ["tag"]
brokers = ["k1:9092"]
linger = "250ms"
[sinks.main.sasl]
mechanism = "scram-sha-512"
username = "pgrelay"
password = "\${KAFKA_PASSWORD}"
`;
const SECRETS = { DB_PASSWORD: 'db-pw-1', SALT: 'salt-2', KAFKA_PASSWORD: 'kafka-pw-3' };

describe('displayConfig', () => {
  const config = parseConfig(CONFIG, '/etc/pgrelay/pgrelay.toml', SECRETS);
  const shown = displayConfig(configSchema, config);

  test('masks every secret: DSN password, SASL password, mask salt', () => {
    for (const secret of Object.values(SECRETS)) assert.ok(!shown.includes(secret), `${secret} printed`);
    assert.match(shown, /^dsn = "postgres:\/\/cdc:\*\*\*@db1:5432\/app"$/m);
    assert.match(shown, /^password = "\*\*\*"$/m);
    assert.match(shown, /^mask_salt = "\*\*\*"$/m);
  });

  test('is itself a valid config, equal to the original but for the masked secrets', () => {
    const reparsed = parseConfig(shown, '/etc/pgrelay/pgrelay.toml', {});
    assert.equal(reparsed.shutdown_timeout, 90_000);
    assert.equal(reparsed.sources.db1?.type === 'postgres' && reparsed.sources.db1.wal_retain, 1024 ** 3);
    const unmasked = structuredClone(reparsed);
    if (unmasked.sources.db1?.type === 'postgres')
      unmasked.sources.db1.dsn = 'postgres://cdc:db-pw-1@db1:5432/app';
    if (unmasked.handlers.tag?.type === 'enrich') unmasked.handlers.tag.mask_salt = 'salt-2';
    if (unmasked.sinks.main?.type === 'kafka' && unmasked.sinks.main.sasl)
      unmasked.sinks.main.sasl.password = 'kafka-pw-3';
    assert.deepEqual(unmasked, config);
  });

  test('writes durations with units, "off" for disabled ones, and fills in defaults', () => {
    assert.match(shown, /^shutdown_timeout = "90s"$/m);
    assert.match(shown, /^stats_interval = "off"$/m);
    assert.match(shown, /^linger = "250ms"$/m);
    assert.match(shown, /^heartbeat = "10s"$/m);
    assert.match(shown, /^status_interval = "10s"$/m, 'a default the file did not set');
    assert.match(shown, /^listen = "127.0.0.1:9187"$/m);
    assert.ok(!shown.includes('file ='), 'the path of the file is not a config key');
  });
});

describe('displayConfig of a Kafka source', () => {
  const relay = (keys: string) =>
    '[state]\npath = "/tmp/state.db"\n' +
    `[sources.edge]\ntype = "kafka"\nbrokers = ["k1:9092"]\ntopics = ["in"]\ngroup_id = "g"\n${keys}\n` +
    '[sinks.central]\ntype = "kafka"\nbrokers = ["k1:9092"]\nsources = ["edge"]\ntopic_fallback = "out"\n';

  test('shows the default that applies: commit_interval, or exactly once transaction_timeout', () => {
    for (const [keys, shownKey, hiddenKey] of [
      ['', /^commit_interval = "100ms"$/m, 'transaction_timeout'],
      ['exactly_once = true', /^transaction_timeout = "15s"$/m, 'commit_interval'],
    ] as const) {
      const config = parseConfig(relay(keys), 'pgrelay.toml', {});
      const shown = displayConfig(configSchema, config);
      assert.match(shown, shownKey);
      assert.ok(!shown.includes(hiddenKey), `${hiddenKey} shown for "${keys}"`);
      assert.deepEqual(parseConfig(shown, 'pgrelay.toml', {}), config, 'the printout is the same config');
    }
  });
});
