import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { after, describe, it } from 'node:test';
import type { ChangeEvent } from '../../src/core/event.js';
import { kafkaSink, kafkaSource, table } from '../fixtures/configs.js';
import { relayMessages } from '../fixtures/events.js';
import { readAtLeast, readTopic } from '../harness/kcat.js';
import { PgrelayProcess, ROOT } from '../harness/pgrelay.js';
import { tempDir, waitFor } from '../harness/processes.js';
import { sharedKafka } from '../harness/services.js';
import { committedOffsets, createTopics, produce, uniqueName, waitForSize } from '../harness/topics.js';

const EXAMPLE_PLUGIN = path.join(ROOT, 'dist/plugins/examples/tenant-topics.js');
/** The event the example plugin throws on: its tenant makes no valid topic name. */
const BAD = 12;
const COUNT = 30;

function seqs(messages: { value: string | null }[]): number[] {
  return messages.map((m) => (JSON.parse(m.value!) as ChangeEvent).columns!.seq as number);
}

/** An input topic of 30 events, event 12 of tenant "a/b", the others of "acme"; names for the rest. */
async function inputTopic(name: string) {
  const brokers = await sharedKafka();
  const prefix = uniqueName(name);
  const [input, group, dlq] = [`${prefix}.in`, `${prefix}-group`, `${prefix}.dlq`];
  await createTopics(brokers, [input], 1);
  const messages = relayMessages(COUNT, { extra: { tenant: 'acme' } });
  messages[BAD] = relayMessages(1, { first: BAD, extra: { tenant: 'a/b' } })[0]!;
  await produce(brokers, input, messages);
  return { brokers, prefix, input, group, dlq };
}

/**
 * A Kafka source of 30 events through the example plugin (README "Handlers"), which routes each to
 * `<prefix>.<tenant>` and throws on event 12. `sinkDeadLetters`: the sink's dead_letter_topic.
 */
async function setup(name: string) {
  const { brokers, prefix, input, group, dlq } = await inputTopic(name);
  // enrich first: the plugin sees copies of the events, and must still be blamed on the originals.
  const config = (sinkDeadLetters: string | undefined) =>
    'shutdown_timeout = "1s"\n' +
    kafkaSource('edge', { brokers, topics: [input], group_id: group }) +
    table('handlers.tag', { type: 'enrich', set: { env: 'prod' } }) +
    table('handlers.tenants', {
      type: 'module',
      path: EXAMPLE_PLUGIN,
      options: { column: 'tenant', prefix },
    }) +
    kafkaSink('central', {
      brokers,
      sources: ['edge'],
      handlers: ['tag', 'tenants'],
      dead_letter_topic: sinkDeadLetters,
    });
  return { brokers, input, group, dlq, out: `${prefix}.acme`, config };
}

const processes: PgrelayProcess[] = [];
after(async () => {
  for (const p of processes) await p.destroy();
});

async function run(config: string, waitRunning = true): Promise<PgrelayProcess> {
  const process = await PgrelayProcess.create(config);
  processes.push(process);
  await process.start({ waitRunning });
  return process;
}

/** Waits until sink `central` fails, and returns the /status that says so (or shows the log). */
function sinkFailure(relay: PgrelayProcess) {
  return waitFor(
    'the sink to fail',
    async () => {
      const s = await relay.status();
      return s.sinks.central!.state === 'failed' ? s : undefined;
    },
    30_000,
    relay.logFile,
  );
}

describe('a user plugin that throws', () => {
  it("with the sink's dead_letter_topic: that event is dead-lettered with the error, the rest delivered", async () => {
    const { brokers, input, group, dlq, out, config } = await setup('plugin-dlq');
    const relay = await run(config(dlq));

    const [letter] = await readAtLeast(brokers, dlq, 1);
    const dead = JSON.parse(letter!.value!) as ChangeEvent & { env?: string };
    assert.equal(dead.columns!.tenant, 'a/b', 'the event as JSON');
    assert.equal(dead.env, undefined, 'as the sink received it, before enrich');
    assert.equal(letter!.headers['pgrelay-handler'], 'tenants');
    assert.equal(letter!.headers['pgrelay-sink'], 'central');
    assert.match(letter!.headers['pgrelay-error']!, /tenant "a\/b" does not make a valid topic name/);
    assert.equal(letter!.headers['pgrelay-origin'], 'on insert of public.items (id 0/100000C:0)');

    await waitForSize(brokers, out, COUNT - 1);
    const relayed = await readTopic(brokers, out);
    assert.ok(relayed.every((m) => (JSON.parse(m.value!) as { env?: string }).env === 'prod'));
    const delivered = seqs(relayed);
    assert.deepEqual(
      delivered,
      Array.from({ length: COUNT }, (_, i) => i).filter((i) => i !== BAD),
    );
    await waitFor(
      'the source to commit past the dead-lettered event',
      async () => ((await committedOffsets(brokers, group, input)).get(0) === COUNT ? true : undefined),
      20_000,
    );
    const status = await relay.status();
    assert.equal(status.status, 'ok');
    const stats = await relay.stats();
    assert.deepEqual(stats.sinks.central!.dropped, { dead_letter: 1 });
  });

  it('without it: the sink stops with a named error and holds the offsets, so nothing is lost', async () => {
    const { brokers, input, group, dlq, out, config } = await setup('plugin-stop');
    const failing = await run(config(undefined), false);

    const status = await sinkFailure(failing);
    assert.equal(status.status, 'degraded');
    assert.equal((await failing.get('/status')).status, 503);
    assert.equal(status.sinks.central!.last_error?.code, 'PGRELAY_HANDLER');
    assert.match(
      status.sinks.central!.last_error?.message ?? '',
      /^handler "tenants" failed on insert of public\.items \(id 0\/100000C:0\): tenant "a\/b" does not make a valid topic name; fix handlers\.tenants \(fix the handler, or set sinks\.central\.dead_letter_topic to set such events aside\)$/,
    );
    assert.equal(status.sinks.central!.last_error?.config_key, 'handlers.tenants');
    const committed = (await committedOffsets(brokers, group, input)).get(0) ?? -1;
    assert.ok(committed <= BAD, `committed ${committed}: not past the failed event ${BAD}`);
    const early = seqs(await readTopic(brokers, out).catch(() => []));
    assert.ok(
      early.every((s) => s < BAD),
      `nothing at or after the failed event is delivered: ${early.join(',')}`,
    );
    // Stopping cannot deliver what the failed sink holds, and a sink had failed: exit status 3.
    assert.equal(await failing.stop(), 3);

    // The operator adds a dead-letter topic and restarts: the held events are delivered now.
    await run(config(dlq));
    await waitFor(
      'the source to commit everything',
      async () => ((await committedOffsets(brokers, group, input)).get(0) === COUNT ? true : undefined),
      30_000,
    );
    assert.deepEqual(
      [...new Set(seqs(await readTopic(brokers, out)))].sort((a, b) => a - b),
      Array.from({ length: COUNT }, (_, i) => i).filter((i) => i !== BAD),
    );
    const [letter] = await readAtLeast(brokers, dlq, 1);
    assert.equal((JSON.parse(letter!.value!) as ChangeEvent).columns!.seq, BAD);
  });
});

/** A plugin returning an object, not bytes, as the value of event 12: a record Kafka cannot write. */
const OBJECT_VALUE_PLUGIN = `export function createHandler() {
  return {
    process: (events) =>
      events.map((e) => (e.columns?.seq === ${BAD} ? { key: null, value: { a: 1 }, origin: e } : e)),
  };
}
`;

describe('a user plugin that returns a record Kafka cannot write', () => {
  it('is named like a throwing plugin: the sink stops on it, or dead-letters the event it came from', async () => {
    const { brokers, prefix, input, group, dlq } = await inputTopic('plugin-object');
    const out = `${prefix}.out`;
    const plugin = path.join(tempDir('pgrelay-plugin-'), 'objects.mjs');
    fs.writeFileSync(plugin, OBJECT_VALUE_PLUGIN);
    const config = (sinkDeadLetters: string | undefined) =>
      'shutdown_timeout = "1s"\n' +
      kafkaSource('edge', { brokers, topics: [input], group_id: group }) +
      table('handlers.objects', { type: 'module', path: plugin }) +
      kafkaSink('central', {
        brokers,
        sources: ['edge'],
        handlers: ['objects'],
        topic_fallback: out,
        dead_letter_topic: sinkDeadLetters,
      });

    const failing = await run(config(undefined), false);
    const status = await sinkFailure(failing);
    assert.equal((await failing.get('/status')).status, 503);
    assert.equal(status.sinks.central!.last_error?.code, 'PGRELAY_HANDLER');
    assert.match(
      status.sinks.central!.last_error?.message ?? '',
      /^handler "objects" failed on insert of public\.items \(id 0\/100000C:0\): process\(\) returned a record no sink can write: its value is an object /,
    );
    const committed = (await committedOffsets(brokers, group, input)).get(0) ?? -1;
    assert.ok(committed <= BAD, `committed ${committed}: not past the failed event ${BAD}`);
    assert.equal(await failing.stop(), 3, 'stopped while a sink had failed');

    await run(config(dlq));
    const [letter] = await readAtLeast(brokers, dlq, 1);
    assert.equal((JSON.parse(letter!.value!) as ChangeEvent).columns!.seq, BAD, 'the event, as pgrelay JSON');
    assert.equal(letter!.headers['pgrelay-handler'], 'objects');
    assert.equal(letter!.headers['pgrelay-origin'], 'on insert of public.items (id 0/100000C:0)');
    assert.match(
      letter!.headers['pgrelay-error']!,
      /returned a record no sink can write: its value is an object/,
    );
    await waitFor(
      'the source to commit past the dead-lettered event',
      async () => ((await committedOffsets(brokers, group, input)).get(0) === COUNT ? true : undefined),
      30_000,
    );
    assert.deepEqual(
      [...new Set(seqs(await readTopic(brokers, out)))].sort((a, b) => a - b),
      Array.from({ length: COUNT }, (_, i) => i).filter((i) => i !== BAD),
    );
  });
});
