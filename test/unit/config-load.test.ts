import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { after, describe, test } from 'node:test';
import { loadConfig, parseConfig } from '../../src/runtime/config.js';
import { ConfigError } from '../../src/core/errors.js';

const WIRING = `
[sources.db1]
type = "postgres"
dsn = "postgres://cdc@db1/app"

[sinks.main]
type = "stub"
sources = ["db1"]
`;
// The state file beside the config: a directory that exists.
const MINIMAL = `[state]\npath = "state.db"\n${WIRING}`;

describe('loading a config', () => {
  test('fills in defaults and turns durations and sizes into numbers', () => {
    const config = parseConfig(MINIMAL, 'pgrelay.toml', {});
    assert.equal(config.http.listen, '127.0.0.1:9187');
    assert.equal(config.log.level, 'info');
    assert.equal(config.shutdown_timeout, 30_000);
    assert.equal(config.stats_interval, 60_000);
    const sink = config.sinks.main!;
    assert.deepEqual(
      {
        handlers: sink.handlers,
        batch_size: sink.batch_size,
        batch_bytes: sink.batch_bytes,
        linger: sink.linger,
        buffer: sink.buffer,
      },
      {
        handlers: ['passthrough'],
        batch_size: 1000,
        batch_bytes: 1024 ** 2,
        linger: 5,
        buffer: 2 * 1024 ** 2,
      },
    );
    const source = config.sources.db1!;
    assert.equal(source.type === 'postgres' && source.heartbeat, undefined, '"off" by default');
  });

  test('takes sizes as integers or strings, and "off" for optional durations', () => {
    const config = parseConfig(
      `stats_interval = "off"\n${MINIMAL}batch_bytes = 65536\nbuffer = "2MB"\nlinger = "250ms"\n`,
      'pgrelay.toml',
      {},
    );
    assert.equal(config.stats_interval, undefined);
    assert.deepEqual(
      [config.sinks.main!.batch_bytes, config.sinks.main!.buffer, config.sinks.main!.linger],
      [65536, 2 * 1024 ** 2, 250],
    );
  });

  test('interpolates ${VAR} before validating, so variables can hold any value', () => {
    const config = parseConfig(
      `[http]\nlisten = "127.0.0.1:\${PORT:-9187}"\n[log]\nlevel = "\${LEVEL}"\n${MINIMAL}`,
      'pgrelay.toml',
      { LEVEL: 'debug', PORT: '9999' },
    );
    assert.equal(config.http.listen, '127.0.0.1:9999');
    assert.equal(config.log.level, 'debug');
  });

  test('reports every problem of the file at once, each on its own line naming file and key', () => {
    const text = `
[state]
path = "state.db"
[log]
levle = "info"
[sources.db1]
type = "postgres"
dsn = "postgres://cdc@db1/app"
retry_max = "soon"
[sinks.main]
type = "stub"
sources = ["db1"]
mode = "print"
`;
    assert.throws(() => parseConfig(text, 'conf/pgrelay.toml', {}), {
      name: 'ConfigError',
      message: [
        'conf/pgrelay.toml: log.levle: unknown key (did you mean "level"?)',
        'conf/pgrelay.toml: sources.db1.retry_max: "soon" is not a duration (use e.g. "250ms", "10s", "5m", "1h")',
        'conf/pgrelay.toml: sinks.main.mode: expected "discard" or "log", got the string "print"',
      ].join('\n'),
    });
  });

  test('suggests no key when nothing is close to the typo', () => {
    assert.throws(() => parseConfig(`${MINIMAL}frobnicate = true\n`, 'pgrelay.toml', {}), {
      message: 'pgrelay.toml: sinks.main.frobnicate: unknown key',
    });
  });

  test('a missing file is an error naming it', () => {
    assert.throws(
      () => loadConfig('/nonexistent/pgrelay.toml'),
      (error) => {
        return (
          error instanceof ConfigError &&
          error.message === '/nonexistent/pgrelay.toml: cannot read config: no such file'
        );
      },
    );
  });

  describe('relative paths', () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'pgrelay-config-'));
    after(() => fs.rmSync(dir, { recursive: true, force: true }));

    test("start at the config file's directory, not the working directory", () => {
      fs.mkdirSync(path.join(dir, 'plugins'));
      fs.mkdirSync(path.join(dir, 'data'));
      fs.writeFileSync(path.join(dir, 'plugins/mine.js'), 'export function createHandler() {}\n');
      fs.writeFileSync(path.join(dir, 'ca.pem'), '');
      const file = path.join(dir, 'pgrelay.toml');
      fs.writeFileSync(
        file,
        `[state]\npath = "data/state.db"\n[handlers.mine]\ntype = "module"\npath = "plugins/mine.js"\n${WIRING}` +
          `\n[sinks.kafka]\ntype = "kafka"\nsources = ["db1"]\nbrokers = ["k:9092"]\n[sinks.kafka.tls]\nca_file = "ca.pem"\n`,
      );
      const config = loadConfig(file, {});
      assert.equal(config.state.path, path.join(dir, 'data/state.db'));
      const handler = config.handlers.mine!;
      assert.equal(handler.type === 'module' && handler.path, path.join(dir, 'plugins/mine.js'));
      const kafka = config.sinks.kafka!;
      assert.equal(kafka.type === 'kafka' && kafka.tls?.ca_file, path.join(dir, 'ca.pem'));
    });
  });
});
