import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { after, describe, test } from 'node:test';
import { POSITION_COMMANDS } from '../../src/cli/positions.js';

/**
 * positions, rewind and reset-position read and change the state file; a source with standby = true
 * keeps its position in its database: positions reads it there (pg-standby-positions), and the
 * changes are refused with the SQL to run there instead of changing nothing.
 */
describe('pgrelay positions / rewind / reset-position: a standby source', () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'pgrelay-cli-standby-'));
  after(() => fs.rmSync(dir, { recursive: true, force: true }));
  const file = path.join(dir, 'pgrelay.toml');
  fs.writeFileSync(
    file,
    `[state]\npath = "${dir}/state.db"\n[sources.db1]\ntype = "postgres"\ndsn = "postgres://x@127.0.0.1:1/app"\n` +
      `standby = true\n[sinks.out]\ntype = "stub"\nsources = ["db1"]\n`,
  );
  const command = (name: string) => POSITION_COMMANDS.find((c) => c.name === name)!;

  test('reset-position names the table and the statement', async () => {
    await assert.rejects(
      async () => command('reset-position').run({ config: file, source: 'db1' }, []),
      /source "db1" has standby = true: its position is in table pgrelay\.positions of its database, not in the state file\. With every pgrelay of it stopped, run there: DELETE FROM pgrelay\.positions WHERE slot = 'pgrelay_db1'/,
    );
    assert.equal(fs.existsSync(path.join(dir, 'state.db')), false, 'the state file was not touched');
  });

  test('positions reads the source database, and says so when it cannot', async () => {
    const written: string[] = [];
    const write = process.stderr.write.bind(process.stderr);
    process.stderr.write = (chunk: string) => written.push(chunk) > 0;
    let code: number;
    try {
      code = await command('positions').run({ config: file }, []);
    } finally {
      process.stderr.write = write;
    }
    assert.equal(code, 1, 'the database (nothing listens on port 1) cannot be read');
    assert.match(
      written.join(''),
      /db1: cannot read pgrelay\.positions of its database \(standby = true keeps its position there\): /,
    );
  });

  test('rewind names the statement that only moves back', async () => {
    await assert.rejects(
      async () => command('rewind').run({ config: file, source: 'db1', lsn: '0/3000000' }, []),
      /UPDATE pgrelay\.positions SET lsn = '0\/3000000', transaction_lsn = NULL, delivered_events = NULL WHERE slot = 'pgrelay_db1' AND lsn >= '0\/3000000'/,
    );
  });
});
