import assert from 'node:assert/strict';
import { after, describe, test } from 'node:test';
import { freePort } from '../harness/processes.js';
import { pgrelay, scratchDir } from '../helpers/cli.js';

const config = (listen: string) => `
[http]
listen = "${listen}"
[state]
path = "state.db"
[sources.db1]
type = "postgres"
dsn = "postgres://cdc@127.0.0.1:1/app"
[sinks.main]
type = "stub"
sources = ["db1"]
`;

describe('pgrelay backfill', { concurrency: true }, () => {
  const scratch = scratchDir();
  after(scratch.remove);

  test('--help names the options; what it needs is a usage error (exit 2)', async () => {
    const help = await pgrelay(['backfill', '--help']);
    assert.equal(help.code, 0);
    assert.match(
      help.stdout,
      /^Usage: pgrelay backfill \[-c FILE\] --source NAME --table TABLE \[--where SQL\] \[--wait\]/,
    );
    const file = scratch.write('off.toml', config('off'));
    const cases: [string[], RegExp][] = [
      [['-c', file, '--table', 't'], /--source NAME is required/],
      [['-c', file, '--source', 'nosuch', '--table', 't'], /no source is named "nosuch"/],
      [['-c', file, '--source', 'db1'], /--table TABLE is required/],
      [
        ['-c', file, '--source', 'db1', '--table', 't'],
        /http\.listen is "off": backfill talks to pgrelay's HTTP API/,
      ],
    ];
    for (const [args, stderr] of cases) {
      const result = await pgrelay(['backfill', ...args]);
      assert.equal(result.code, 2, args.join(' '));
      assert.match(result.stderr, stderr);
    }
  });

  test('no pgrelay listening is a runtime failure (exit 1) naming the address', async () => {
    const port = await freePort();
    const file = scratch.write('down.toml', config(`0.0.0.0:${port}`));
    const result = await pgrelay(['backfill', '-c', file, '--source', 'db1', '--table', 't']);
    assert.equal(result.code, 1);
    assert.match(
      result.stderr,
      new RegExp(`no pgrelay answers at http://127\\.0\\.0\\.1:${port}/sources/db1/backfill`),
    );
  });
});
