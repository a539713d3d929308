import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { after, describe, test } from 'node:test';
import type { ChangeEvent } from '../../src/core/event.js';
import type { ReloadOutcome, StatusReport } from '../../src/runtime/runtime.js';
import { type CdcFixture, cdcFixture, kafkaSink, postgresSource } from '../harness/cdc.js';
import { readTopic } from '../harness/kcat.js';
import { PgrelayProcess } from '../harness/pgrelay.js';
import { waitFor } from '../harness/processes.js';

/**
 * A source or sink that fails for good stops alone: the process stays up for the others, the
 * failure names the config key to fix (log line, /status), a reload after the fix starts it again,
 * and a stop while it is failed exits with status 3 (the unit then ends "failed", not restarted).
 */
describe('a source or sink that failed for good', () => {
  const relays: PgrelayProcess[] = [];
  const slots: [CdcFixture, string][] = [];
  after(async () => {
    for (const relay of relays) await relay.destroy();
    for (const [fixture, slot] of slots)
      await fixture.sql('SELECT pg_drop_replication_slot($1)', [slot]).catch(() => undefined);
  });

  async function status(relay: PgrelayProcess): Promise<StatusReport> {
    return (await relay.status()) as unknown as StatusReport;
  }

  async function failed(relay: PgrelayProcess, role: 'sources' | 'sinks', name: string) {
    const body = await waitFor(
      `${role}.${name} to fail`,
      async () => {
        const body = await status(relay);
        return body[role][name]?.state === 'failed' ? body : undefined;
      },
      60_000,
      relay.logFile,
    );
    assert.equal((await relay.get('/status')).status, 503);
    return body[role][name]!.last_error!;
  }

  async function reloaded(relay: PgrelayProcess, count: number): Promise<ReloadOutcome> {
    relay.signal('SIGHUP');
    return waitFor(
      `reload ${count} to end`,
      async () => {
        const { reload } = await status(relay);
        return reload.count === count && !reload.in_progress && reload.last !== null
          ? reload.last
          : undefined;
      },
      60_000,
      relay.logFile,
    );
  }

  /** The log line of the failure, at level error, naming the key. */
  function failureLine(relay: PgrelayProcess, name: string): Record<string, unknown> | undefined {
    return relay
      .log()
      .split('\n')
      .filter((line) => line.startsWith('{'))
      .map((line) => JSON.parse(line) as Record<string, unknown>)
      .find((line) => line.component === name && line.level === 'error');
  }

  const ids = async (fixture: CdcFixture, topic: string) =>
    (await readTopic(fixture.brokers, topic)).map(
      (m) => (JSON.parse(m.value!) as ChangeEvent).key!.id as number,
    );

  test('a wrong PostgreSQL password: the source fails naming its dsn, the others stream on; fixed in the environment file and reloaded, it streams', async () => {
    const db1 = await cdcFixture('failed_pw');
    const db2 = await cdcFixture('failed_ok');
    const role = `pw_${db1.database}`;
    const slot = `pgrelay_db1_${db1.database}`;
    await db1.sql(`CREATE TABLE t (id int PRIMARY KEY); CREATE PUBLICATION pgrelay_db1 FOR TABLE t;
      CREATE ROLE ${role} LOGIN REPLICATION PASSWORD 'right'; GRANT SELECT ON t TO ${role}`);
    await db1.sql(`SELECT pg_create_logical_replication_slot('${slot}', 'pgoutput')`);
    slots.push([db1, slot]);
    await db2.sql('CREATE TABLE t (id int PRIMARY KEY)');
    await db1.pg.requirePassword(role);
    const [out1, out2] = [db1.topic('t'), db2.topic('t')];
    const relay = await PgrelayProcess.create(
      postgresSource(
        'db1',
        {
          ...db1,
          dsn: `postgres://${role}:\${PGRELAY_TEST_DB1_PASSWORD}@127.0.0.1:${db1.pg.port}/${db1.database}`,
        },
        ['t'],
        'create_publication = false\ncreate_slot = false',
      ) +
        postgresSource('db2', db2, ['t']) +
        kafkaSink('out1', db1, ['db1'], `topic_fallback = "${out1}"`) +
        kafkaSink('out2', db2, ['db2'], `topic_fallback = "${out2}"`),
    );
    relays.push(relay);
    slots.push([db2, `pgrelay_db2_${db2.database}`]);
    // The secret kept the documented way: the environment file beside the config.
    const envFile = path.join(relay.dir, 'pgrelay.env');
    fs.writeFileSync(envFile, 'PGRELAY_TEST_DB1_PASSWORD=wrong\n');
    await relay.start({ waitRunning: false });

    const error = await failed(relay, 'sources', 'db1');
    assert.equal(error.code, 'PGRELAY_PG_PERMISSION');
    assert.match(
      error.message,
      /password authentication failed.*; fix sources\.db1\.dsn \(its user and password\)$/,
    );
    assert.equal(error.config_key, 'sources.db1.dsn');
    const line = failureLine(relay, 'db1');
    assert.equal(line?.config_key, 'sources.db1.dsn');
    assert.match(
      String(line?.msg),
      /^source db1 failed: .*; fix sources\.db1\.dsn \(its user and password\)$/,
    );
    const metrics = await (await relay.get('/metrics')).text();
    assert.match(
      metrics,
      /^pgrelay_component_state\{component="db1",role="source",type="postgres",state="failed"\} 1$/m,
    );

    // The others run on.
    await waitFor(
      'db2 to stream',
      async () => ((await status(relay)).sources.db2!.state === 'running' ? true : undefined),
      60_000,
    );
    await db2.sql('INSERT INTO t VALUES (1)');
    await db2.events(out2, 1);
    await db1.sql('INSERT INTO t VALUES (1), (2)');

    // The fix: the password in the environment file, and a reload.
    fs.writeFileSync(envFile, 'PGRELAY_TEST_DB1_PASSWORD=right\n');
    const outcome = await reloaded(relay, 1);
    assert.equal(outcome.result, 'ok', outcome.message);
    assert.deepEqual(outcome.changes?.sources.restarted, { db1: ['sources.db1.dsn'] });
    assert.deepEqual(outcome.changes?.sources.unchanged, ['db2']);
    await relay.waitRunning();
    await db1.events(out1, 2);
    assert.deepEqual(await ids(db1, out1), [1, 2], 'the rows written while it was failed, once');
    assert.equal(await relay.stop(), 0, 'nothing failed any more');
  });

  test('a slot that must exist (create_slot = false) and does not: named, exit status 3 at a stop; created and reloaded, it streams', async () => {
    const db = await cdcFixture('failed_slot');
    const slot = `pgrelay_db1_${db.database}`;
    await db.sql('CREATE TABLE t (id int PRIMARY KEY)');
    const out = db.topic('t');
    const relay = await PgrelayProcess.create(
      postgresSource('db1', db, ['t'], 'create_slot = false') +
        kafkaSink('out', db, ['db1'], `topic_fallback = "${out}"`),
    );
    relays.push(relay);
    await relay.start({ waitRunning: false });
    const error = await failed(relay, 'sources', 'db1');
    assert.equal(error.code, 'PGRELAY_PG_SLOT_NOT_FOUND');
    assert.match(
      error.message,
      /; fix sources\.db1\.slot \(create the slot, name an existing one, or set create_slot = true\)$/,
    );
    assert.equal(error.config_key, 'sources.db1.slot');

    // A stop while it is failed: systemd sees it in the exit status.
    assert.equal(await relay.stop(), 3);
    assert.match(
      relay.log(),
      /"level":"error".*"msg":"stopped while source db1 had failed \(see the error above naming the key to fix\): exit status 3"/,
    );

    // Fixed on the server, the config unchanged: a reload starts the failed source again.
    await relay.start({ waitRunning: false });
    await failed(relay, 'sources', 'db1');
    await db.sql(`SELECT pg_create_logical_replication_slot('${slot}', 'pgoutput')`);
    slots.push([db, slot]);
    const outcome = await reloaded(relay, 1);
    assert.equal(outcome.result, 'ok', outcome.message);
    assert.deepEqual(outcome.changes?.sources.restarted, { db1: ['it had failed'] });
    assert.deepEqual(outcome.changes?.sinks.unchanged, ['out']);
    await relay.waitRunning();
    await db.sql('INSERT INTO t VALUES (1)');
    await db.events(out, 1);
    assert.equal(await relay.stop(), 0);
  });

  test('a sink failed by its handler is replaced by a reload: the new one delivers what the old one held, once', async () => {
    const db = await cdcFixture('failed_sink');
    await db.sql('CREATE TABLE t (id int PRIMARY KEY, name text)');
    slots.push([db, `pgrelay_db1_${db.database}`]);
    const out = db.topic('t');
    const config = (module: string) =>
      postgresSource('db1', db, ['t']) +
      `\n[handlers.check]\ntype = "module"\npath = "${module}"\n` +
      kafkaSink('out', db, ['db1'], `topic_fallback = "${out}"\nhandlers = ["check", "passthrough"]`);
    const relay = await PgrelayProcess.create(config('strict.mjs'));
    relays.push(relay);
    const handler = (body: string) =>
      `export function createHandler() {\n  return { process: (events) => ${body} };\n}\n`;
    fs.writeFileSync(
      path.join(relay.dir, 'strict.mjs'),
      handler("events.map((e) => { if (e.columns.name === 'poison') throw new Error('poison'); return e; })"),
    );
    fs.writeFileSync(path.join(relay.dir, 'lenient.mjs'), handler('events'));
    await relay.start();

    await db.sql("INSERT INTO t VALUES (1, 'a'), (2, 'poison'), (3, 'c')");
    const error = await failed(relay, 'sinks', 'out');
    assert.equal(error.code, 'PGRELAY_HANDLER');
    assert.equal(error.config_key, 'handlers.check');

    relay.rewrite(config('lenient.mjs'));
    const outcome = await reloaded(relay, 1);
    assert.equal(outcome.result, 'ok', outcome.message);
    assert.deepEqual(outcome.changes?.sinks.restarted, { out: ['handlers.check.path'] });
    assert.deepEqual(outcome.changes?.sources.unchanged, ['db1'], 'the source ran on');
    await relay.waitRunning();
    await db.events(out, 3);
    await db.sql("INSERT INTO t VALUES (4, 'd')");
    await db.events(out, 4);
    assert.equal(await relay.stop(), 0);

    // The held rows were acknowledged as they were delivered: a restart sends nothing again.
    await relay.start();
    await db.sql("INSERT INTO t VALUES (5, 'e')");
    await db.events(out, 5);
    assert.deepEqual(await ids(db, out), [1, 2, 3, 4, 5]);
    assert.equal(await relay.stop(), 0);
  });
});
