import assert from 'node:assert/strict';
import fs from 'node:fs';
import { setTimeout as sleep } from 'node:timers/promises';
import { after, describe, test } from 'node:test';
import pg from 'pg';
import type { ChangeEvent } from '../../src/core/event.js';
import type { ReloadOutcome, StatusReport } from '../../src/runtime/runtime.js';
import { kafkaSource } from '../fixtures/configs.js';
import { relayMessages } from '../fixtures/events.js';
import { type CdcFixture, cdcFixture, kafkaSink, postgresSource } from '../harness/cdc.js';
import { readTopic } from '../harness/kcat.js';
import { PgrelayProcess, fetchApi } from '../harness/pgrelay.js';
import { freePort, waitFor } from '../harness/processes.js';
import { pgrelay } from '../helpers/cli.js';
import { createTopics, produce, topicSize, uniqueName } from '../harness/topics.js';

type Phase = 'before' | 'during' | 'after';

/** The ids of a transaction of BIG_ROWS rows, apart from those the writer numbers from 1. */
const BIG_FIRST = 1_000_000;
const BIG_ROWS = 20_000;

/**
 * One row per transaction into public.t of each database listed, numbered per database, until
 * stopped; each id is recorded with the phase of the reload it was committed in.
 */
function rowWriter(fixtures: Record<string, CdcFixture>) {
  let phase: Phase = 'before';
  let running = true;
  const rows: Record<string, Map<number, Phase>> = {};
  const clients: Record<string, pg.Client> = {};
  const loop = (async () => {
    while (running) {
      for (const [name, fixture] of Object.entries(fixtures)) {
        if (clients[name] === undefined) {
          clients[name] = new pg.Client({ connectionString: fixture.dsn });
          await clients[name].connect();
          rows[name] = new Map();
        }
        const id = rows[name]!.size + 1;
        await clients[name].query("INSERT INTO t VALUES ($1::int, 'row ' || $1::int)", [id]);
        rows[name]!.set(id, phase);
      }
      await sleep(5);
    }
    for (const client of Object.values(clients)) await client.end();
  })();
  return {
    rows,
    set phase(next: Phase) {
      phase = next;
    },
    /** Starts writing into `name` too. */
    add(name: string, fixture: CdcFixture) {
      fixtures[name] = fixture;
    },
    async stop() {
      running = false;
      await loop;
    },
  };
}

/** Relayed events into `topic` until stopped, `seq` counting up, with the reload phase of each. */
function messageWriter(brokers: string[], topic: string) {
  let phase: Phase = 'before';
  let running = true;
  const sent = new Map<number, Phase>();
  const loop = (async () => {
    while (running) {
      const first = sent.size;
      await produce(brokers, topic, relayMessages(5, { first, rows: 1_000_000 }));
      for (let seq = first; seq < first + 5; seq++) sent.set(seq, phase);
      await sleep(50);
    }
  })();
  return {
    sent,
    set phase(next: Phase) {
      phase = next;
    },
    stop: async () => {
      running = false;
      await loop;
    },
  };
}

/** Each event's identity: the source and row id of a streamed row, the seq of a relayed message. */
function identity(event: ChangeEvent): string {
  return event.source === 'edge-db'
    ? `edge:${JSON.stringify(event.columns!.seq)}`
    : `${event.source}:${JSON.stringify(event.key!.id)}`;
}

/** The events on `topic` once every identity in `expected` is there; fails naming what is missing. */
async function eventsHolding(brokers: string[], topic: string, expected: string[]): Promise<ChangeEvent[]> {
  let missing: string[] = [];
  return waitFor(
    () =>
      `${topic} to hold ${expected.length} events (missing ${missing.length}: ${missing.slice(0, 5).join(' ')})`,
    async () => {
      const events = (await readTopic(brokers, topic)).map((m) => JSON.parse(m.value!) as ChangeEvent);
      const seen = new Set(events.map(identity));
      missing = expected.filter((id) => !seen.has(id));
      return missing.length === 0 ? events : undefined;
    },
    120_000,
  );
}

/** Identities seen more than once. */
function duplicates(events: ChangeEvent[]): string[] {
  const seen = new Set<string>();
  return events.map(identity).filter((id) => seen.has(id) || !seen.add(id));
}

function ids(source: string, rows: Map<number, Phase>, phases: Phase[] = ['before', 'during', 'after']) {
  return [...rows].filter(([, phase]) => phases.includes(phase)).map(([id]) => `${source}:${id}`);
}

/** The outcome of reload number `count`, from the API at `url` (the process's own by default). */
async function reloadOutcome(relay: PgrelayProcess, count: number, url = relay.url): Promise<ReloadOutcome> {
  return waitFor(
    `reload ${count} to end`,
    async () => {
      const { reload } = (await (await fetchApi(`${url}/status`)).json()) as StatusReport;
      return reload.count >= count && !reload.in_progress && reload.last !== null ? reload.last : undefined;
    },
    120_000,
    relay.logFile,
  );
}

async function slotPid(fixture: CdcFixture, slot: string): Promise<number | null> {
  const [row] = await fixture.sql<{ pid: number | null }>(
    'SELECT active_pid AS pid FROM pg_replication_slots WHERE slot_name = $1',
    [slot],
  );
  return row?.pid ?? null;
}

describe('SIGHUP reloads the config', () => {
  const relays: PgrelayProcess[] = [];
  after(async () => {
    for (const relay of relays) await relay.destroy();
  });

  test('changed, unchanged, added and removed sources and sinks, rows flowing: nothing lost, nothing twice', async () => {
    const names = ['db1', 'db2', 'db3', 'db4'] as const;
    const fx: Record<string, CdcFixture> = {};
    for (const name of names) {
      fx[name] = await cdcFixture(`reload_${name}`);
      await fx[name].sql('CREATE TABLE t (id int PRIMARY KEY, name text)');
    }
    const { brokers } = fx.db1!;
    const prefix = uniqueName('reload');
    const topic = (name: string) => `${prefix}.${name}`;
    // One partition each: the order of a topic is the order its sink delivered in.
    await createTopics(brokers, ['in', 'keep', 'swap', 'gone', 'fresh'].map(topic), 1);
    const group = `${prefix}-group`;
    const edge = (sessionTimeout: string) =>
      kafkaSource('edge', {
        brokers,
        topics: [topic('in')],
        group_id: group,
        session_timeout: sessionTimeout,
      });
    const sink = (name: string, sources: string[], extra = '') =>
      kafkaSink(name, fx.db1!, sources, `topic_fallback = "${topic(name)}"\n${extra}`);
    const tag = (value: string) => `\n[handlers.tag]\ntype = "enrich"\nset = { tag = "${value}" }\n`;
    // Small buffers: the large transaction below fills them, so db1 waits for them (backpressure)
    // when the reload comes, and the sinks that restart and go have batches in flight.
    const swap = sink('swap', ['db1'], 'handlers = ["tag", "passthrough"]\nbuffer = "256KB"');

    const before =
      'shutdown_timeout = "20s"\n' +
      postgresSource('db1', fx.db1!, ['t']) +
      postgresSource('db2', fx.db2!, ['t'], 'application_name = "pgrelay-v1"') +
      postgresSource('db3', fx.db3!, ['t']) +
      edge('10s') +
      tag('v1') +
      sink('keep', ['db1', 'db2', 'edge']) +
      swap +
      sink('gone', ['db1', 'db3'], 'buffer = "256KB"');
    const afterReload =
      'shutdown_timeout = "20s"\n' +
      postgresSource('db1', fx.db1!, ['t']) +
      postgresSource('db2', fx.db2!, ['t'], 'application_name = "pgrelay-v2"') +
      postgresSource('db4', fx.db4!, ['t']) +
      edge('12s') +
      tag('v2') +
      sink('keep', ['db1', 'db2', 'edge']) +
      swap +
      sink('fresh', ['db1', 'db4']);

    const relay = await PgrelayProcess.create(before);
    relays.push(relay);
    await relay.start();
    const rows = rowWriter({ db1: fx.db1!, db2: fx.db2!, db3: fx.db3! });
    const messages = messageWriter(brokers, topic('in'));
    const stopWriters = async () => {
      for (const result of await Promise.allSettled([rows.stop(), messages.stop()]))
        if (result.status === 'rejected') throw result.reason;
    };
    try {
      await waitFor(
        'rows and messages to flow into keep',
        async () => ((await topicSize(brokers, topic('keep'))) >= 50 ? true : undefined),
        60_000,
        relay.logFile,
      );
      const first = (await relay.status()) as unknown as StatusReport;
      const db1Slot = `pgrelay_db1_${fx.db1!.database}`;
      const db1Walsender = await slotPid(fx.db1!, db1Slot);
      assert.notEqual(db1Walsender, null);

      // A large transaction, committed just before the signal: the reload comes while it streams,
      // with batches of it in flight in the sinks that restart and go.
      await fx.db1!.sql(
        `INSERT INTO t SELECT g, 'big ' || g FROM generate_series(${BIG_FIRST}, ${BIG_FIRST + BIG_ROWS - 1}) g`,
      );
      for (let id = BIG_FIRST; id < BIG_FIRST + BIG_ROWS; id++) rows.rows.db1!.set(id, 'before');
      relay.rewrite(afterReload);
      rows.phase = messages.phase = 'during';
      relay.signal('SIGHUP');
      const outcome = await reloadOutcome(relay, 1);
      rows.phase = messages.phase = 'after';
      assert.equal(outcome.result, 'ok', outcome.message);
      assert.deepEqual(outcome.problems, []);
      assert.deepEqual(outcome.changes?.sources, {
        added: ['db4'],
        removed: ['db3'],
        restarted: { db2: ['sources.db2.application_name'], edge: ['sources.edge.session_timeout'] },
        unchanged: ['db1'],
        debug: {},
      });
      assert.deepEqual(outcome.changes?.sinks, {
        added: ['fresh'],
        removed: ['gone'],
        restarted: { swap: ['handlers.tag.set.tag'] },
        unchanged: ['keep'],
        debug: {},
      });

      const second = (await relay.waitRunning()) as unknown as StatusReport;
      rows.add('db4', fx.db4!);
      // The unchanged ran on: the same instances, the same walsender on the slot.
      for (const [role, name] of [
        ['sources', 'db1'],
        ['sinks', 'keep'],
      ] as const) {
        assert.equal(
          second[role][name]!.started_at,
          first[role][name]!.started_at,
          `${name} was not restarted`,
        );
        assert.equal(second[role][name]!.since, first[role][name]!.since, `${name} stayed running`);
      }
      assert.equal(await slotPid(fx.db1!, db1Slot), db1Walsender, 'db1 kept its replication connection');
      for (const [role, name] of [
        ['sources', 'db2'],
        ['sources', 'edge'],
        ['sinks', 'swap'],
      ] as const)
        assert.notEqual(second[role][name]!.started_at, first[role][name]!.started_at, `${name} restarted`);
      assert.deepEqual(Object.keys(second.sources).sort(), ['db1', 'db2', 'db4', 'edge']);
      assert.deepEqual(Object.keys(second.sinks).sort(), ['fresh', 'keep', 'swap']);

      const freshBefore = await topicSize(brokers, topic('fresh'));
      await waitFor(
        'rows of db4 to reach fresh',
        async () => ((await topicSize(brokers, topic('fresh'))) >= freshBefore + 50 ? true : undefined),
        60_000,
        relay.logFile,
      );
    } catch (error) {
      await stopWriters().catch(() => undefined);
      throw error;
    }
    await stopWriters();

    const db1 = rows.rows.db1!;
    const keep = await eventsHolding(brokers, topic('keep'), [
      ...ids('db1', db1),
      ...ids('db2', rows.rows.db2!),
      ...ids('edge', messages.sent),
    ]);
    assert.deepEqual(duplicates(keep), [], 'keep: nothing twice (unchanged sink; db2 and edge restarted)');

    const swapped = await eventsHolding(brokers, topic('swap'), ids('db1', db1));
    assert.deepEqual(duplicates(swapped), [], 'swap: the new instance took over without repeating anything');
    const tags = swapped.map((e) => (e as ChangeEvent & { tag: string }).tag);
    assert.ok(
      tags[0] === 'v1' && tags.at(-1) === 'v2',
      `both handler versions delivered: ${tags[0]}…${tags.at(-1)}`,
    );
    assert.equal(
      tags.indexOf('v1', tags.indexOf('v2')),
      -1,
      'the old instance delivered everything before the new one',
    );
    const afterIds = new Set(ids('db1', db1, ['after']));
    assert.ok(
      swapped.filter((e) => afterIds.has(identity(e))).every((e) => (e as { tag?: string }).tag === 'v2'),
    );

    const fresh = await eventsHolding(brokers, topic('fresh'), [...afterIds, ...ids('db4', rows.rows.db4!)]);
    assert.deepEqual(duplicates(fresh), [], 'fresh: nothing twice');

    const gone = (await readTopic(brokers, topic('gone'))).map((m) => JSON.parse(m.value!) as ChangeEvent);
    assert.ok(gone.length > 0, 'the removed sink delivered until the reload');
    // db1 ran on while its sink gone was swapped for fresh: each of its rows, the large transaction
    // in flight included, went to exactly one of them.
    const handedOver = [...gone, ...fresh].filter((e) => e.source === 'db1');
    assert.deepEqual(duplicates(handedOver), [], 'db1: no row in both gone and fresh');
    assert.deepEqual(
      new Set(handedOver.map(identity)),
      new Set(ids('db1', db1)),
      'db1: every row in gone or fresh',
    );
    assert.deepEqual(duplicates(gone), []);
    const lateDb3 = new Set(ids('db3', rows.rows.db3!, ['after']));
    assert.deepEqual(
      gone.filter((e) => afterIds.has(identity(e)) || lateDb3.has(identity(e))).map(identity),
      [],
      'nothing reached the removed sink after the reload',
    );

    const metrics = await (await relay.get('/metrics')).text();
    assert.match(metrics, /^pgrelay_config_reloads_total\{result="ok"\} 1$/m);
    assert.match(metrics, /^pgrelay_config_last_reload_successful 1$/m);
    assert.doesNotMatch(metrics, /component="gone"/, 'the removed sink has no series left');
    const log = relay.log();
    assert.match(log, /"msg":"reload: source db2 restarts: sources\.db2\.application_name changed"/);
    assert.match(log, /"msg":"reload: sink gone removed"/);
    assert.match(
      log,
      /"msg":"reload of [^"]+ applied: sources: 2 restarted, 1 added, 1 removed, 1 unchanged; sinks: 1 restarted, 1 added, 1 removed, 1 unchanged"/,
    );
    assert.equal(await relay.stop(), 0);
    await fx.db3!.sql('SELECT pg_drop_replication_slot($1)', [`pgrelay_db3_${fx.db3!.database}`]);
  });

  test('a config with problems is refused as a whole, each named; pgrelay reload validates before it signals', async () => {
    const fx = await cdcFixture('reload_refused');
    await fx.sql('CREATE TABLE t (id int PRIMARY KEY, name text)');
    const out = fx.topic('out');
    const good =
      postgresSource('db1', fx, ['t']) + kafkaSink('out', fx, ['db1'], `topic_fallback = "${out}"`);
    const relay = await PgrelayProcess.create(good);
    relays.push(relay);
    await relay.start();
    const first = (await relay.status()) as unknown as StatusReport;

    relay.rewrite(
      'shutdown_timout = "5s"\n' +
        postgresSource('db1', fx, ['t']) +
        kafkaSink('out', fx, ['db1'], `topic_fallback = "${out}"\nlinger = "soon"`) +
        '\n[sinks.extra]\ntype = "stub"\nsources = ["nope"]\n',
    );
    const check = await pgrelay(['check-config', '-c', relay.configFile]);
    assert.equal(check.code, 2);
    const problems = check.stderr.replace(/^pgrelay: /, '').trimEnd();
    assert.equal(problems.split('\n').length, 3, problems);

    relay.signal('SIGHUP');
    const refused = await reloadOutcome(relay, 1);
    assert.equal(refused.result, 'failed');
    assert.equal(refused.message, problems, 'every problem, each naming the file and key, as check-config');
    assert.match(
      relay.log(),
      /"level":"error".*"msg":"reload of [^"]+pgrelay\.toml refused, still running the previous config:\\n/,
    );
    const metrics = await (await relay.get('/metrics')).text();
    assert.match(metrics, /^pgrelay_config_reloads_total\{result="failed"\} 1$/m);
    assert.match(metrics, /^pgrelay_config_last_reload_successful 0$/m);
    const still = (await relay.status()) as unknown as StatusReport;
    assert.equal(still.status, 'ok');
    assert.equal(still.sinks.out!.started_at, first.sinks.out!.started_at, 'nothing restarted');
    await fx.sql("INSERT INTO t VALUES (1, 'after the refused reload')");
    await fx.events(out, 1);

    // The command refuses the file itself, naming the same problems, and sends nothing.
    const invalid = await pgrelay(['reload', '-c', relay.configFile]);
    assert.deepEqual({ code: invalid.code, stderr: invalid.stderr }, { code: 2, stderr: check.stderr });
    assert.equal(((await relay.status()) as unknown as StatusReport).reload.count, 1, 'no SIGHUP sent');

    // Valid again, with keys that cannot change in place and keys that can.
    const newPort = await freePort();
    relay.rewrite(
      good.replace(`topic_fallback = "${out}"`, `topic_fallback = "${out}"\ndebug = true`),
      '',
      newPort,
    );
    fs.writeFileSync(
      relay.configFile,
      fs.readFileSync(relay.configFile, 'utf8').replace(relay.stateFile, `${relay.dir}/moved.db`),
    );
    // The command finds the running pgrelay by its state.path, so it cannot follow that change.
    const lost = await pgrelay(['reload', '-c', relay.configFile]);
    assert.equal(lost.code, 1);
    assert.match(
      lost.stderr,
      /state\.path cannot change while pgrelay runs: after changing it, restart pgrelay/,
    );
    relay.signal('SIGHUP');
    const newUrl = `http://127.0.0.1:${newPort}`;
    const applied = await reloadOutcome(relay, 2, newUrl);
    assert.equal(applied.result, 'ok', applied.message);
    assert.equal(
      applied.message,
      'sources: 0 restarted, 0 added, 0 removed, 1 unchanged; sinks: 0 restarted, 0 added, 0 removed, 1 unchanged; http.listen applied',
    );
    assert.deepEqual(applied.changes?.kept, [
      { key: 'state.path', running: relay.stateFile, file: `${relay.dir}/moved.db` },
    ]);
    const moved = (await (await fetchApi(`${newUrl}/status`)).json()) as StatusReport;
    assert.equal(moved.sinks.out!.debug, true, 'debug switched in place');
    assert.equal(moved.sinks.out!.started_at, first.sinks.out!.started_at, 'without a restart');
    await assert.rejects(fetch(`${relay.url}/status`), 'the old address is closed');
    assert.match(
      relay.log(),
      /"msg":"reload: state\.path changed to [^"]+moved\.db, which cannot change while pgrelay runs: keeping [^"]+state\.db until a restart"/,
    );

    await fx.sql("INSERT INTO t VALUES (2, 'after the applied reload')");
    await fx.events(out, 2);
    assert.match(relay.log(), /"component":"out".*"msg":"delivered"/, 'debug lines of the sink');

    // With state.path back, the command finds it, and waits for the outcome at the new address.
    fs.writeFileSync(
      relay.configFile,
      fs.readFileSync(relay.configFile, 'utf8').replace(`${relay.dir}/moved.db`, relay.stateFile),
    );
    const command = await pgrelay(['reload', '-c', relay.configFile]);
    assert.deepEqual(command, {
      code: 0,
      stdout: `${relay.configFile}: reloaded: nothing changed\n`,
      stderr: '',
    });
    assert.equal(await relay.stop(), 0);
    assert.ok(
      !fs.existsSync(`${relay.dir}/moved.db`),
      'positions stay in the state file pgrelay started with',
    );
    await fx.sql('SELECT pg_drop_replication_slot($1)', [`pgrelay_db1_${fx.database}`]);
  });
});
