import assert from 'node:assert/strict';
import os from 'node:os';
import { after, before, describe, test } from 'node:test';
import { type CdcFixture, cdcFixture, kafkaSink, parseEvents } from '../harness/cdc.js';
import { readTopic } from '../harness/kcat.js';
import { PgrelayProcess } from '../harness/pgrelay.js';
import { waitFor } from '../harness/processes.js';
import {
  holderOf,
  logPositionWrites,
  positionWrites,
  sourceState,
  standbySlot,
  standbySource,
  streamingApp,
} from '../harness/standby.js';

const ROWS_PER_ROUND = 3000;

/** Which instance streamed the slot, sampled with the server's clock. */
type Sample = {
  at: Date;
  app: string | null;
};

/**
 * Fencing between two pgrelay processes on one slot (standby = true), under network-style faults:
 * the active instance's PostgreSQL connections are cut while its process lives. Once the standby
 * took over, the old one neither streams nor stores a position, and no row is lost.
 */
describe('PostgreSQL standby: fencing when the active instance loses its connections', () => {
  let fx: CdcFixture;
  let relays: Record<'a' | 'b', PgrelayProcess>;
  const samples: Sample[] = [];
  let sampling = true;
  let sampler: Promise<void> | undefined;
  let inserted = 0;

  async function insertRound(): Promise<void> {
    for (let i = 0; i < 10; i++) {
      const from = inserted + 1;
      inserted += ROWS_PER_ROUND / 10;
      await fx.sql(`INSERT INTO rows SELECT g, 'x' FROM generate_series(${from}, ${inserted}) g`);
    }
  }

  /** The server processes of `app`'s connections that matter here: its walsender and its position session. */
  async function connectionsOf(app: string): Promise<{ walsender: number | null; lease: number | null }> {
    const [row] = await fx.sql<{ walsender: number | null; lease: number | null }>(
      `SELECT (SELECT a.pid FROM pg_stat_activity a JOIN pg_replication_slots s ON s.active_pid = a.pid
                WHERE s.slot_name = $1 AND a.application_name = $2) AS walsender,
              (SELECT a.pid FROM pg_stat_activity a JOIN pg_locks l ON l.pid = a.pid AND l.locktype = 'advisory'
                WHERE a.application_name = $2 AND l.granted LIMIT 1) AS lease`,
      [standbySlot(fx), app],
    );
    return row!;
  }

  /** Cuts `app`'s connections (as a network fault would); `which`: the position session only, or both. */
  async function cut(app: string, which: 'lease' | 'both'): Promise<Date> {
    const pids = await connectionsOf(app);
    assert.ok(pids.lease !== null, `${app} holds the lease`);
    assert.ok(pids.walsender !== null, `${app} streams the slot`);
    const targets = which === 'lease' ? [pids.lease] : [pids.lease, pids.walsender];
    const [row] = await fx.sql<{ at: Date }>(
      `SELECT clock_timestamp() AS at, (SELECT bool_and(pg_terminate_backend(p)) FROM unnest($1::int[]) p) AS done`,
      [targets],
    );
    return row!.at;
  }

  /** Waits for `active` to stream and `standby` to stand by; returns when `active` first stored a position. */
  async function waitTakeover(active: 'a' | 'b', standby: 'a' | 'b', since: Date): Promise<Date> {
    const holder = holderOf(relays[active], os.hostname());
    return waitFor(
      `relay_${active} to take over (stream, store a position) and relay_${standby} to stand by`,
      async () => {
        if ((await sourceState(relays[active])) !== 'running') return undefined;
        if ((await sourceState(relays[standby])) !== 'standby') return undefined;
        if ((await streamingApp(fx)) !== `relay_${active}`) return undefined;
        const first = (await positionWrites(fx)).find((w) => w.holder === holder && w.at > since);
        return first?.at;
      },
      60_000,
      relays[active].logFile,
    );
  }

  /** After `takeover`, `old` was never seen streaming and stored no position. */
  async function assertFenced(old: 'a' | 'b', takeover: Date): Promise<void> {
    const streamed = samples.filter((s) => s.at > takeover && s.app === `relay_${old}`);
    assert.equal(streamed.length, 0, `relay_${old} streamed after the takeover: ${JSON.stringify(streamed)}`);
    const oldHolder = holderOf(relays[old], os.hostname());
    const late = (await positionWrites(fx)).filter((w) => w.at > takeover && w.holder === oldHolder);
    assert.deepEqual(late, [], `relay_${old} stored positions after the takeover`);
  }

  before(async () => {
    fx = await cdcFixture('standby_fence');
    await fx.sql('CREATE TABLE rows (id int PRIMARY KEY, payload text)');
    const sink = kafkaSink('out', fx, ['db'], `topic_fallback = "${fx.topic('rows')}"\nbatch_size = 500`);
    // The cut instance waits 3 s before it tries again; the standby checks every 300 ms: the standby wins.
    const options = { interval: '300ms', retryInitial: '3s' };
    relays = {
      a: await PgrelayProcess.create(standbySource(fx, ['rows'], 'relay_a', options) + sink),
      b: await PgrelayProcess.create(standbySource(fx, ['rows'], 'relay_b', options) + sink),
    };
    await relays.a.start();
    await logPositionWrites(fx);
    await relays.b.start();
    sampler = (async () => {
      while (sampling) {
        const [row] = await fx.sql<Sample>(
          `SELECT clock_timestamp() AS at, (SELECT a.application_name FROM pg_replication_slots s
             JOIN pg_stat_activity a ON a.pid = s.active_pid WHERE s.slot_name = $1) AS app`,
          [standbySlot(fx)],
        );
        samples.push(row!);
        await new Promise((resolve) => setTimeout(resolve, 50));
      }
    })();
  });

  after(async () => {
    sampling = false;
    await sampler;
    await Promise.all([relays?.a.destroy(), relays?.b.destroy()]);
  });

  test('one streams, the other stands by (healthy), and its metric says so', async () => {
    await insertRound();
    await waitTakeover('a', 'b', new Date(0));
    const status = await relays.b.get('/status');
    assert.equal(status.status, 200, 'a standby is healthy');
    const metrics = await (await relays.b.get('/metrics')).text();
    assert.match(metrics, /pgrelay_component_state\{[^}]*component="db"[^}]*state="standby"\} 1/);
    assert.match(metrics, /pgrelay_component_up\{[^}]*component="db"[^}]*\} 1/);
  });

  test('the position session cut: the active one stops streaming, the standby takes over', async () => {
    const cutAt = await cut('relay_a', 'lease');
    const insertion = insertRound();
    const takeover = await waitTakeover('b', 'a', cutAt);
    await insertion;
    await insertRound();
    await assertFenced('a', takeover);
  });

  test('both connections cut: the same the other way round', async () => {
    const cutAt = await cut('relay_b', 'both');
    const insertion = insertRound();
    const takeover = await waitTakeover('a', 'b', cutAt);
    await insertion;
    await insertRound();
    await assertFenced('b', takeover);
  });

  test('no row is lost, and stored positions never go back', async () => {
    const events = await waitFor(
      'every row to arrive',
      async () => {
        const all = parseEvents(await readTopic(fx.brokers, fx.topic('rows')));
        return new Set(all.map((e) => e.columns!.id)).size >= inserted ? all : undefined;
      },
      120_000,
      relays.a.logFile,
    );
    const ids = new Set(events.map((e) => e.columns!.id as number));
    for (let id = 1; id <= inserted; id++) assert.ok(ids.has(id), `row ${id} arrived`);
    const writes = await positionWrites(fx);
    for (let i = 1; i < writes.length; i++) {
      assert.ok(
        writes[i]!.bytes >= writes[i - 1]!.bytes,
        `stored position ${writes[i]!.lsn} (${writes[i]!.holder}) is not behind ${writes[i - 1]!.lsn} (${writes[i - 1]!.holder})`,
      );
    }
    process.stdout.write(
      `# fencing: ${inserted} rows, ${events.length - inserted} duplicates, ${samples.length} samples of the slot's holder\n`,
    );
  });
});
