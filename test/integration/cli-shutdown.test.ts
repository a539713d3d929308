import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { describe, test } from 'node:test';
import { lsnToBigInt } from '../../src/core/lsn.js';
import { StateStore } from '../../src/state/store.js';
import { PgrelayProcess } from '../harness/pgrelay.js';
import { waitFor } from '../harness/processes.js';
import { sourceDatabase } from '../helpers/database.js';
import type { LogLine } from '../helpers/log.js';

type Database = Awaited<ReturnType<typeof sourceDatabase>>;

/** A handler module whose process() never returns: a sink stuck on it cannot finish its batch. */
const HANGING_HANDLER =
  'export function createHandler() {\n  return { process: () => new Promise(() => {}) };\n}\n';

/** A relay whose only sink (stub) runs the handler module `handlerSource`. */
async function handlerRelay(
  sourceToml: string,
  handlerSource: string,
  topLevel = '',
): Promise<PgrelayProcess> {
  const relay = await PgrelayProcess.create(`${topLevel}
${sourceToml}
[handlers.custom]
type = "module"
path = "handler.mjs"

[sinks.out]
type = "stub"
sources = ["db1"]
handlers = ["custom"]
`);
  fs.writeFileSync(path.join(relay.dir, 'handler.mjs'), handlerSource);
  return relay;
}

/** A relay whose only sink hangs in its handler: what it holds can never be delivered. */
function stuckRelay(sourceToml: string, shutdownTimeout: string): Promise<PgrelayProcess> {
  return handlerRelay(sourceToml, HANGING_HANDLER, `shutdown_timeout = "${shutdownTimeout}"`);
}

function logLines(relay: PgrelayProcess): LogLine[] {
  return relay
    .log()
    .split('\n')
    .filter((line) => line.startsWith('{'))
    .map((line) => JSON.parse(line) as LogLine);
}

function storedPosition(relay: PgrelayProcess): bigint | undefined {
  const state = StateStore.open(relay.stateFile);
  try {
    const stored = state.get('db1')?.position;
    return stored === undefined ? undefined : lsnToBigInt(stored);
  } finally {
    state.close();
  }
}

async function currentLsn(db: Database): Promise<bigint> {
  const [row] = await db.postgres.query<{ lsn: string }>('SELECT pg_current_wal_lsn()::text AS lsn');
  return lsnToBigInt(row!.lsn);
}

/** Inserts rows and waits until the sink holds them; it must not have delivered them yet. */
async function insertInFlight(
  relay: PgrelayProcess,
  db: Database,
  first: number,
  count: number,
): Promise<void> {
  await db.insert(first, count);
  const counters = await relay.waitForSink(
    'out',
    `${count} rows in the sink`,
    (c) => c.events_in === count,
    30_000,
  );
  assert.equal(counters.events_out, 0, 'still in flight when the signal comes');
}

describe('pgrelay run stops on SIGTERM and SIGINT', () => {
  test('delivers the batches in flight, stores positions and exits 0; a restart resumes after them', async () => {
    const db = await sourceDatabase('shutdown');
    // A linger no test waits for: the rows stay in flight in the sink until the signal.
    const relay = await PgrelayProcess.create(`${db.sourceToml('db1')}
[sinks.out]
type = "stub"
mode = "log"
sources = ["db1"]
linger = "1h"
`);
    const batches = () =>
      logLines(relay)
        .filter((l) => l.component === 'out' && l.msg.startsWith('stub sink out: batch of'))
        .map((l) => l.records);
    try {
      for (const [signal, first, count] of [
        ['SIGTERM', 1, 3],
        ['SIGINT', 4, 2],
      ] as const) {
        await relay.start();
        const before = await currentLsn(db);
        await insertInFlight(relay, db, first, count);
        assert.equal(await relay.stop(60_000, signal), 0, `${signal}: exit status`);
        assert.ok(
          logLines(relay).some((l) => l.msg === 'stopped cleanly; positions stored'),
          `${signal}: clean stop logged`,
        );
        const stored = storedPosition(relay);
        assert.ok(
          stored !== undefined && stored > before,
          `${signal}: position stored past the delivered rows`,
        );
      }
      // Each run delivered its own rows once: the second resumed after the first one's position.
      assert.deepEqual(batches(), [3, 2]);
    } finally {
      await relay.destroy();
      await db.dropSlot();
    }
  });

  test('a sink that cannot finish is abandoned at shutdown_timeout: exit 1, its rows not confirmed', async () => {
    const db = await sourceDatabase('deadline');
    const relay = await stuckRelay(db.sourceToml('db1'), '1s');
    try {
      await relay.start();
      const before = await currentLsn(db);
      await insertInFlight(relay, db, 1, 1);
      // Exits by itself (the harness would SIGKILL after a minute: exit status null).
      assert.equal(await relay.stop(), 1);
      assert.ok(
        logLines(relay).some(
          (l) =>
            l.msg ===
            'shutdown deadline passed before every batch was delivered; the rest will be sent again',
        ),
      );
      const stored = storedPosition(relay);
      assert.ok(stored === undefined || stored <= before, 'the undelivered row is not confirmed');
    } finally {
      await relay.destroy();
      await db.dropSlot();
    }
  });

  test('exits once stopped, though a handler module left a timer running', async () => {
    const db = await sourceDatabase('left_timer');
    // An interval nobody clears keeps a Node process alive for good unless it exits by itself.
    const relay = await handlerRelay(
      db.sourceToml('db1'),
      'setInterval(() => {}, 1000);\nexport function createHandler() {\n  return { process: (events) => events };\n}\n',
    );
    try {
      await relay.start();
      await db.insert(1, 1);
      await relay.waitForSink('out', 'the row through the handler', (c) => c.events_out === 1, 30_000);
      // Without exiting by itself it runs until the harness's SIGKILL a minute later: exit status null.
      assert.equal(await relay.stop(), 0);
      assert.ok(logLines(relay).some((l) => l.msg === 'stopped cleanly; positions stored'));
    } finally {
      await relay.destroy();
      await db.dropSlot();
    }
  });

  test('a second signal exits at once, without waiting for the deadline', async () => {
    const db = await sourceDatabase('second_signal');
    const relay = await stuckRelay(db.sourceToml('db1'), '1h');
    try {
      await relay.start();
      await insertInFlight(relay, db, 1, 1);
      process.kill(relay.pid!, 'SIGTERM');
      await waitFor(
        'the first SIGTERM to be taken',
        () =>
          Promise.resolve(logLines(relay).some((l) => l.msg.startsWith('SIGTERM: stopping')) || undefined),
        30_000,
      );
      assert.equal(await relay.stop(60_000, 'SIGINT'), 1);
      assert.ok(
        logLines(relay).some(
          (l) => l.msg === 'SIGINT again: exiting without waiting; undelivered changes will be sent again',
        ),
      );
    } finally {
      await relay.destroy();
      await db.dropSlot();
    }
  });
});
