import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';
import { formatLsn, lsnToBigInt } from '../../src/core/lsn.js';
import { type CdcFixture, cdcFixture, postgresSource } from '../harness/cdc.js';
import { PgrelayProcess, type StatusBody, metricIn } from '../harness/pgrelay.js';
import { tempDir, waitFor } from '../harness/processes.js';
import { pgrelay } from '../helpers/cli.js';

/** The file system the state file lives on: small, so a file fills it. */
const FILESYSTEM = 'size=2m';

/** Writes zeros into `file` until the file system has no byte left. */
function fill(file: string): void {
  const chunk = Buffer.alloc(64 * 1024);
  const fd = fs.openSync(file, 'w');
  try {
    for (;;) {
      try {
        fs.writeSync(fd, chunk);
      } catch (error) {
        if ((error as NodeJS.ErrnoException).code === 'ENOSPC') return;
        throw error;
      }
    }
  } finally {
    fs.closeSync(fd);
  }
}

/**
 * A full file system under state.path: positions that cannot be stored hold the slot where the last
 * stored ones put it, show as a named failure (HTTP 503, the log once, a metric), and are stored
 * again, by themselves, once there is space.
 */
describe('state file on a full file system', () => {
  let mountpoint: string;
  let mounted = false;
  let fx: CdcFixture;
  let relay: PgrelayProcess;

  before(async () => {
    mountpoint = tempDir('pgrelay-statefs-');
    try {
      execFileSync('mount', ['-t', 'tmpfs', '-o', FILESYSTEM, 'tmpfs', mountpoint], { stdio: 'pipe' });
      mounted = true;
    } catch (error) {
      // Only root may mount; the harness runs as root in CI.
      throw new Error(`this test mounts a tmpfs at ${mountpoint} and needs root: ${String(error)}`);
    }
    fx = await cdcFixture('diskfull');
    await fx.sql('CREATE TABLE items (id int PRIMARY KEY)');
    relay = await PgrelayProcess.create(
      postgresSource('db', fx, ['items']) + '\n[sinks.out]\ntype = "stub"\nsources = ["db"]\n',
      '',
      path.join(mountpoint, 'state.db'),
    );
  });

  after(async () => {
    await relay?.destroy();
    if (mounted) execFileSync('umount', [mountpoint]);
    fs.rmSync(mountpoint, { recursive: true, force: true });
  });

  const slot = () => `pgrelay_db_${fx.database}`;
  async function slotConfirmed(): Promise<bigint> {
    const [row] = await fx.sql<{ lsn: string }>(
      'SELECT confirmed_flush_lsn::text AS lsn FROM pg_replication_slots WHERE slot_name = $1',
      [slot()],
    );
    return lsnToBigInt(row!.lsn);
  }
  async function currentWal(): Promise<bigint> {
    const [row] = await fx.sql<{ lsn: string }>('SELECT pg_current_wal_lsn()::text AS lsn');
    return lsnToBigInt(row!.lsn);
  }
  /** Inserts row `id`; returns the WAL position after its commit. */
  async function insert(id: number): Promise<bigint> {
    await fx.sql('INSERT INTO items VALUES ($1)', [id]);
    return currentWal();
  }
  const confirmedUpTo = (lsn: bigint, what: string) =>
    waitFor(what, async () => ((await slotConfirmed()) >= lsn ? true : undefined), 60_000, relay.logFile);

  test('positions are held and named while the disk is full, stored again when space returns', async () => {
    await relay.start();
    await confirmedUpTo(await insert(1), 'the slot to be confirmed past row 1');

    const filler = path.join(mountpoint, 'filler');
    fill(filler);
    const beforeRow2 = await currentWal();
    for (let id = 2; id <= 6; id++) await insert(id);
    const status = await waitFor(
      'GET /status to name the state file that cannot be written',
      async () => {
        const response = await relay.get('/status');
        const body = (await response.json()) as StatusBody & {
          state_file: { path: string; ok: boolean; error: { code: string; message: string } | null };
        };
        return response.status === 503 && body.sources.db!.state === 'retrying' ? body : undefined;
      },
      60_000,
      relay.logFile,
    );
    const expected = `state.path ${relay.stateFile}: cannot write: database or disk is full (SQLITE_FULL)`;
    assert.equal(status.sources.db!.last_error?.code, 'PGRELAY_STATE_WRITE');
    assert.ok(
      status.sources.db!.last_error.message.startsWith(expected),
      status.sources.db!.last_error.message,
    );
    assert.equal(status.state_file.ok, false);
    assert.equal(status.state_file.path, relay.stateFile);
    assert.equal(status.state_file.error?.code, 'PGRELAY_STATE_WRITE');
    assert.equal(status.sinks.out!.state, 'running');

    const metrics = await waitFor(
      'three failed attempts to store positions',
      async () => {
        const text = await (await relay.get('/metrics')).text();
        return (metricIn(text, 'pgrelay_state_write_errors_total') ?? 0) >= 3 ? text : undefined;
      },
      60_000,
      relay.logFile,
    );
    assert.equal(metricIn(metrics, 'pgrelay_state_failing'), 1);
    await waitFor(
      'the stream to go on: rows 2 to 6 delivered to the sink',
      async () => {
        const stats = await relay.stats();
        return stats.sinks.out!.events_out === 6 ? true : undefined;
      },
      60_000,
      relay.logFile,
    );
    const confirmed = await slotConfirmed();
    assert.ok(
      confirmed <= beforeRow2,
      `PostgreSQL hears of no position that is not stored (slot at ${formatLsn(confirmed)}, row 2 after ${formatLsn(beforeRow2)})`,
    );
    const failures = relay
      .log()
      .split('\n')
      .filter((line) => line.includes(expected));
    assert.equal(failures.length, 1, `logged once, not per attempt:\n${failures.join('\n')}`);
    for (const line of relay.log().trim().split('\n'))
      assert.doesNotThrow(() => JSON.parse(line), `a log line, not a raw stack trace: ${line}`);

    fs.rmSync(filler);
    await confirmedUpTo(await insert(7), 'the slot to be confirmed past row 7 once there is space');
    await relay.waitRunning();
    const recovered = await (await relay.get('/metrics')).text();
    assert.equal(metricIn(recovered, 'pgrelay_state_failing'), 0);
    assert.match(relay.log(), /written again; positions are stored and confirmed again/);

    assert.equal(await relay.stop(), 0);
    const positions = await pgrelay(['positions', '-c', relay.configFile, '--json']);
    assert.equal(positions.code, 0, positions.stderr);
    const stored = JSON.parse(positions.stdout) as { source: string; position: string };
    assert.equal(stored.source, 'db');
    assert.ok(lsnToBigInt(stored.position) >= (await slotConfirmed()), JSON.stringify(stored));
  });
});
