import assert from 'node:assert/strict';
import fs from 'node:fs';
import { after, describe, test } from 'node:test';
import { pgrelay, scratchDir } from '../helpers/cli.js';

/**
 * Operators keep secrets in NAME.env beside NAME.toml, which the systemd unit reads; every command
 * run from a shell must find the config and those variables as the service does.
 */
describe('CLI: default config and the environment file beside it', { concurrency: true }, () => {
  const scratch = scratchDir();
  after(scratch.remove);
  const config = scratch.write(
    'relay.toml',
    `[state]
path = "state.db"
[log]
level = "\${PGRELAY_TEST_LEVEL}"
[sources.db1]
type = "postgres"
dsn = "host=127.0.0.1 port=1 dbname=app user=cdc password=\${PGRELAY_TEST_PASSWORD}"
[sinks.main]
type = "stub"
sources = ["db1"]
`,
  );
  scratch.write(
    'relay.env',
    '# as /etc/pgrelay/NAME.env\nPGRELAY_TEST_PASSWORD=pw#1\nPGRELAY_TEST_LEVEL="warn"\n',
  );

  test('positions, reset-position, rewind and backfill default -c like run, to $PGRELAY_CONFIG', async () => {
    const env = { PGRELAY_CONFIG: config };
    const positions = await pgrelay(['positions'], { env });
    assert.deepEqual(positions, {
      code: 0,
      stdout: '',
      stderr: `${scratch.dir}/state.db: no positions stored\n`,
    });
    const reset = await pgrelay(['reset-position', '--source', 'db1'], { env });
    assert.deepEqual(reset, { code: 0, stdout: 'db1: no position was stored\n', stderr: '' });
    // Both get past the config to what they need next.
    const rewind = await pgrelay(['rewind', '--source', 'db1'], { env });
    assert.match(rewind.stderr, /--lsn X\/Y is required/);
    const backfill = await pgrelay(['backfill', '--source', 'db1'], { env });
    assert.match(backfill.stderr, /--table TABLE is required/);
  });

  test('without an environment file, each unset variable is named; a missing config names its path', async () => {
    const copy = scratch.write('copy.toml', fs.readFileSync(config, 'utf8'));
    const unset = await pgrelay(['check-config', copy]);
    assert.deepEqual(unset, {
      code: 2,
      stdout: '',
      stderr:
        `pgrelay: ${copy}: log.level: environment variable PGRELAY_TEST_LEVEL is not set\n` +
        `${copy}: sources.db1.dsn: environment variable PGRELAY_TEST_PASSWORD is not set\n`,
    });
    const missing = await pgrelay(['positions'], { env: { PGRELAY_CONFIG: `${scratch.dir}/nowhere.toml` } });
    assert.deepEqual(missing, {
      code: 2,
      stdout: '',
      stderr: `pgrelay: ${scratch.dir}/nowhere.toml: cannot read config: no such file\n`,
    });
  });

  test('variables already in the environment win over the file', async () => {
    const fromFile = await pgrelay(['check-config', config]);
    assert.equal(fromFile.code, 0, fromFile.stderr);
    assert.match(fromFile.stdout, /^level = "warn"$/m);
    const overridden = await pgrelay(['check-config', config], { env: { PGRELAY_TEST_LEVEL: 'debug' } });
    assert.equal(overridden.code, 0, overridden.stderr);
    assert.match(overridden.stdout, /^level = "debug"$/m);
  });

  test('an environment file this user cannot read is a warning (systemd reads it as root)', async () => {
    const file = scratch.write(
      'unreadable.toml',
      '[state]\npath = "state.db"\n[sources.db1]\ntype = "postgres"\ndsn = "postgres://cdc@127.0.0.1:1/app"\n[sinks.main]\ntype = "stub"\nsources = ["db1"]\n',
    );
    // A directory in its place: unreadable even for root, who reads any file.
    fs.mkdirSync(`${scratch.dir}/unreadable.env`);
    const result = await pgrelay(['check-config', '-q', file]);
    assert.deepEqual(result, {
      code: 0,
      stdout: '',
      stderr: `pgrelay: warning: ${scratch.dir}/unreadable.env: EISDIR: illegal operation on a directory, read; its variables are not read\n`,
    });
  });

  test('a broken environment file is a config error naming its line', async () => {
    const file = scratch.write('broken.toml', '[state]\npath = "state.db"\n');
    scratch.write('broken.env', 'A=1\nexport B=2\n');
    const result = await pgrelay(['check-config', file]);
    assert.deepEqual(result, {
      code: 2,
      stdout: '',
      stderr: `pgrelay: ${scratch.dir}/broken.env:2: "export B" is not a variable name (write KEY=value, no "export")\n`,
    });
  });
});
