import assert from 'node:assert/strict';
import fs from 'node:fs';
import net from 'node:net';
import path from 'node:path';
import { after, describe, test } from 'node:test';
import { ROOT } from '../harness/pgrelay.js';
import { pgrelay, scratchDir } from '../helpers/cli.js';
import { sampleCopy } from '../helpers/samples.js';

const VERSION = (JSON.parse(fs.readFileSync(path.join(ROOT, 'package.json'), 'utf8')) as { version: string })
  .version;

/** Valid, and never reaching a server: the source points at a closed port. */
const WIRING = `
[sources.db1]
type = "postgres"
dsn = "postgres://cdc:\${DB_PASSWORD:-x}@127.0.0.1:1/app"

[sinks.main]
type = "stub"
sources = ["db1"]
`;

// Each test runs its own processes: concurrently they finish in a fraction of the time.
describe('pgrelay CLI', { concurrency: true }, () => {
  const scratch = scratchDir();
  after(scratch.remove);

  test('version prints the package version, as --version does', async () => {
    for (const args of [['version'], ['--version']]) {
      const result = await pgrelay(args);
      assert.equal(result.code, 0);
      assert.equal(result.stdout, `pgrelay ${VERSION} (node ${process.versions.node})\n`);
    }
  });

  test('--help lists the commands; without a command it is a usage error', async () => {
    const help = await pgrelay(['--help']);
    assert.equal(help.code, 0);
    for (const command of ['run', 'check-config', 'reload', 'version'])
      assert.match(help.stdout, new RegExp(`^  ${command} `, 'm'));
    assert.match(
      help.stdout,
      /Exit status: 0 ok, 1 runtime failure, 2 bad config or usage, 3 \(run\) stopped while a source or\nsink had failed for good\./,
    );
    const bare = await pgrelay([]);
    assert.equal(bare.code, 2);
    assert.equal(bare.stdout, help.stdout);
  });

  test('every command has --help, exiting 0', async () => {
    const expected: Record<string, RegExp> = {
      run: /^Usage: pgrelay run \[-c FILE \| FILE\]\n[\s\S]*shutdown_timeout[\s\S]*-c, --config FILE/,
      'check-config':
        /^Usage: pgrelay check-config \[-c FILE \| FILE\] \[--quiet\]\n[\s\S]*secrets masked[\s\S]*-q, --quiet/,
      version: /^Usage: pgrelay version\n$/,
      reload: /^Usage: pgrelay reload \[-c FILE \| FILE\] \[--no-wait\]\n[\s\S]*SIGHUP[\s\S]*--no-wait/,
    };
    for (const [command, usage] of Object.entries(expected)) {
      const result = await pgrelay([command, '--help']);
      assert.equal(result.code, 0, command);
      assert.match(result.stdout, usage, command);
    }
  });

  test('usage mistakes exit 2 and say what was wrong', async () => {
    const cases: [string[], RegExp][] = [
      [['frobnicate'], /^pgrelay: unknown command "frobnicate"\n/],
      [['run', '--bogus'], /^pgrelay: Unknown option '--bogus'/],
      [['version', 'extra'], /^pgrelay: unexpected argument "extra"\n\nUsage: pgrelay version/],
      [['check-config', 'a.toml', 'b.toml'], /^pgrelay: unexpected argument "b.toml"/],
      [
        ['check-config', '-c', 'a.toml', 'b.toml'],
        /^pgrelay: two config files given \(-c a.toml and b.toml\): name one\n$/,
      ],
    ];
    for (const [args, stderr] of cases) {
      const result = await pgrelay(args);
      assert.equal(result.code, 2, args.join(' '));
      assert.match(result.stderr, stderr, args.join(' '));
    }
  });

  describe('check-config', { concurrency: true }, () => {
    test('passes the commented sample, given as FILE or with -c', async () => {
      sampleCopy(path.join(ROOT, 'conf/pgrelay.toml'), scratch.dir);
      const cwd = scratch.dir;
      for (const args of [['pgrelay.toml'], ['-c', 'pgrelay.toml']]) {
        const result = await pgrelay(['check-config', ...args], { cwd });
        assert.equal(result.code, 0);
        assert.equal(result.stderr, 'pgrelay.toml: OK\n');
        assert.match(result.stdout, /^\[sinks\.main\]$/m, 'prints the resolved config');
      }
      const quiet = await pgrelay(['check-config', '-q', 'pgrelay.toml'], { cwd });
      assert.deepEqual(quiet, { code: 0, stdout: '', stderr: '' });
    });

    test('a broken config exits 2 with the message naming file and key', async () => {
      const result = await pgrelay(['check-config', 'broken-unknown-source.toml'], {
        cwd: path.join(ROOT, 'test/fixtures'),
      });
      assert.equal(result.code, 2);
      assert.equal(result.stdout, '');
      assert.equal(
        result.stderr,
        'pgrelay: broken-unknown-source.toml: sinks.archive.sources[0]: unknown source "db2" (known: "db1")\n',
      );
    });

    test('masks the DSN password and the SASL password, printing neither anywhere', async () => {
      const file = scratch.write(
        'secrets.toml',
        `[state]\npath = "state.db"\n${WIRING}
[sinks.kafka]
type = "kafka"
sources = ["db1"]
brokers = ["kafka1:9092"]
[sinks.kafka.sasl]
mechanism = "scram-sha-512"
username = "pgrelay"
password = "\${KAFKA_PASSWORD}"
`,
      );
      const secrets = { DB_PASSWORD: 'pg-Secret-1', KAFKA_PASSWORD: 'kafka-Secret-2' };
      const result = await pgrelay(['check-config', file], { env: secrets });
      assert.equal(result.code, 0, result.stderr);
      for (const secret of Object.values(secrets)) {
        assert.ok(!result.stdout.includes(secret) && !result.stderr.includes(secret), `${secret} printed`);
      }
      assert.match(result.stdout, /^dsn = "postgres:\/\/cdc:\*\*\*@127\.0\.0\.1:1\/app"$/m);
      assert.match(
        result.stdout,
        /^\[sinks\.kafka\.sasl\]\nmechanism = "scram-sha-512"\nusername = "pgrelay"\npassword = "\*\*\*"$/m,
      );
    });
  });

  describe('run fails before starting anything', { concurrency: true }, () => {
    test('a bad config: exit 2', async () => {
      const result = await pgrelay(['run', '-c', path.join(ROOT, 'test/fixtures/broken-key-typo.toml')]);
      assert.equal(result.code, 2);
      assert.match(
        result.stderr,
        /broken-key-typo\.toml: sinks\.main\.toppic_map: unknown key \(did you mean "topic_map"\?\)\n$/,
      );
    });

    test('a missing state directory: exit 2 (not restarted by systemd), from check-config too', async () => {
      const missing = path.join(scratch.dir, 'no-such-dir');
      const file = scratch.write('no-state-dir.toml', `[state]\npath = "${missing}/state.db"\n${WIRING}`);
      for (const command of ['run', 'check-config']) {
        const result = await pgrelay([command, file]);
        assert.equal(result.code, 2, command);
        assert.equal(
          result.stderr,
          `pgrelay: ${file}: state.path: directory ${missing} does not exist (create it, owned by the user pgrelay runs as, or choose another path)\n`,
          command,
        );
      }
    });

    test('http.listen on a port in use: exit 1, naming the address', async () => {
      const blocker = net.createServer();
      await new Promise<void>((resolve) => blocker.listen(0, '127.0.0.1', resolve));
      try {
        const { port } = blocker.address() as net.AddressInfo;
        const file = scratch.write(
          'port-in-use.toml',
          `[http]\nlisten = "127.0.0.1:${port}"\n[state]\npath = "state.db"\n${WIRING}`,
        );
        const result = await pgrelay(['run', '-c', file]);
        assert.equal(result.code, 1);
        assert.equal(
          result.stderr,
          `pgrelay: http.listen 127.0.0.1:${port}: listen EADDRINUSE: address already in use 127.0.0.1:${port}\n`,
        );
      } finally {
        blocker.close();
      }
    });
  });
});
