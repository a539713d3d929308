import assert from 'node:assert/strict';
import { after, describe, it } from 'node:test';
import { type Admin, Consumer } from '@platformatic/kafka';
import type { ChangeEvent } from '../../src/core/event.js';
import { halfwayRelay } from '../fixtures/configs.js';
import { partitionedMessages } from '../fixtures/events.js';
import { readTopic } from '../harness/kcat.js';
import { PgrelayProcess, type StatusBody } from '../harness/pgrelay.js';
import { waitFor } from '../harness/processes.js';
import { adminClient, committedOffsets, createTopics, produce } from '../harness/topics.js';

const PARTITIONS = 6;
const ROWS = 600;
/** Messages in the input before the relays start; more keep arriving until the test is done. */
const BACKLOG = 10_000;

interface SourceDetails {
  assignment: Record<string, number[]>;
  partitions: Record<string, { delivered: string }>;
  rebalancing: boolean;
}

async function details(relay: PgrelayProcess): Promise<SourceDetails> {
  const status: StatusBody = await relay.status();
  return status.sources.edge as unknown as SourceDetails;
}

function owned(source: SourceDetails): string[] {
  return Object.entries(source.assignment).flatMap(([topic, list]) => list.map((p) => `${topic}/${p}`));
}

function delivered(...sources: SourceDetails[]): Map<string, number> {
  return new Map(
    sources.flatMap((source) =>
      owned(source).map((key) => [key, Number(source.partitions[key]?.delivered ?? -1)] as const),
    ),
  );
}

/** The group's state as the broker reports it ("stable", "preparingrebalance"...; brokers spell them differently). */
async function groupState(admin: Admin, group: string): Promise<string | undefined> {
  const state = (await admin.describeGroups({ groups: [group] })).get(group)?.state;
  return state?.replaceAll('_', '').toLowerCase();
}

/** Produces partitioned messages on `input` until stopped; `produced` counts them (from `first`). */
function keepProducing(brokers: string[], input: string, first: number) {
  const run = { produced: first, stopped: false, done: Promise.resolve() };
  run.done = (async () => {
    while (!run.stopped) {
      await produce(brokers, input, partitionedMessages(run.produced, 60, ROWS, PARTITIONS));
      run.produced += 60;
    }
  })();
  return run;
}

describe('incremental (cooperative) rebalancing', () => {
  const processes: PgrelayProcess[] = [];
  const cleanups: (() => Promise<unknown>)[] = [];
  after(async () => {
    for (const cleanup of cleanups) await cleanup().catch(() => undefined);
    for (const p of processes) await p.destroy();
  });

  it('keeps the partitions that do not move flowing while a third relay joins', async () => {
    const { brokers, input, out, group, config } = await halfwayRelay(
      'cooperative',
      PARTITIONS,
      ROWS,
      2 * BACKLOG,
    );
    const [a, b, c] = (await Promise.all([1, 2, 3].map(() => PgrelayProcess.create(config)))) as [
      PgrelayProcess,
      PgrelayProcess,
      PgrelayProcess,
    ];
    processes.push(a, b, c);
    const admin = adminClient(brokers);
    cleanups.push(() => admin.close());
    const production = keepProducing(brokers, input, BACKLOG);
    cleanups.unshift(async () => {
      production.stopped = true;
      await production.done;
    });

    await a.start();
    await b.start();
    await waitFor(
      'two relays sharing the partitions',
      async () => {
        const [da, db] = [await details(a), await details(b)];
        const [na, nb] = [owned(da).length, owned(db).length];
        return na > 0 && nb > 0 && na + nb === PARTITIONS ? true : undefined;
      },
      60_000,
    );

    // A member of the same group, on a topic of its own, whose rejoins the test can hold: while
    // one is held, the group stays in PreparingRebalance for as long as the test needs to look.
    const side = `${input}.side`;
    await createTopics(brokers, [side], 1);
    // Open until the test closes it.
    let hold = Promise.withResolvers<void>();
    hold.resolve();
    const holder = new Consumer({
      clientId: 'holder',
      bootstrapBrokers: brokers,
      groupId: group,
      sessionTimeout: 30_000,
      heartbeatInterval: 500,
      protocols: [{ name: 'cooperative-sticky', version: 3 }],
      protocolsMetadata: async () => {
        await hold.promise;
        return Buffer.alloc(0);
      },
    });
    holder.on('error', () => undefined);
    cleanups.unshift(async () => {
      hold.resolve();
      await holder.close(true);
    });
    holder.topics.track(side);
    await holder.joinGroup({});
    await waitFor(
      'the group to settle with the holder',
      async () => ((await groupState(admin, group)) === 'stable' ? true : undefined),
      30_000,
    );
    const before = { a: owned(await details(a)), b: owned(await details(b)) };
    const logFrom = new Map([a, b].map((relay) => [relay, relay.log().length]));

    hold = Promise.withResolvers<void>();
    await c.start({ waitRunning: false });
    const sampled = await waitFor(
      'both relays to be rebalancing, the group held in PreparingRebalance',
      async () => {
        const [da, db] = [await details(a), await details(b)];
        const held = (await groupState(admin, group)) === 'preparingrebalance';
        return held && da.rebalancing && db.rebalancing ? delivered(da, db) : undefined;
      },
      30_000,
    );
    assert.equal(sampled.size, PARTITIONS);
    await waitFor(
      'every partition to deliver more while the group rebalances',
      async () => {
        const now = delivered(await details(a), await details(b));
        return [...sampled].every(([key, offset]) => (now.get(key) ?? -1) > offset) ? true : undefined;
      },
      30_000,
    );
    assert.equal(await groupState(admin, group), 'preparingrebalance', 'the rebalance was still going on');
    assert.ok((await details(a)).rebalancing && (await details(b)).rebalancing);
    hold.resolve();

    const settled = await waitFor(
      'the third relay to own partitions and the group to settle',
      async () => {
        const [da, db, dc] = [await details(a), await details(b), await details(c)];
        const counts = [da, db, dc].map((d) => owned(d).length);
        const all = counts[0]! + counts[1]! + counts[2]! === PARTITIONS && counts[2]! > 0;
        const quiet = !da.rebalancing && !db.rebalancing && (await groupState(admin, group)) === 'stable';
        return all && quiet ? { a: owned(da), b: owned(db), c: owned(dc) } : undefined;
      },
      60_000,
    );
    const stayed = [
      ...before.a.filter((p) => settled.a.includes(p)),
      ...before.b.filter((p) => settled.b.includes(p)),
    ];
    assert.equal(stayed.length + settled.c.length, PARTITIONS, 'only what the third relay took moved');
    // A partition that stayed was never given up (so never read again from its committed offset).
    for (const key of stayed) {
      assert.ok(
        ![a, b].some((relay) =>
          relay.log().slice(logFrom.get(relay)).includes(`partition ${key} moves to another member`),
        ),
        `${key} stayed, but was given up`,
      );
    }

    production.stopped = true;
    await production.done;
    await waitFor(
      'every offset to be committed',
      async () => {
        const offsets = await committedOffsets(brokers, group, input);
        return [...offsets.values()].reduce((x, y) => x + y, 0) === production.produced ? true : undefined;
      },
      60_000,
    ).catch(async (error: Error) => {
      const committed = JSON.stringify([...(await committedOffsets(brokers, group, input))]);
      const states = await Promise.all([a, b, c].map(async (relay) => JSON.stringify(await details(relay))));
      const tails = [a, b, c].map((relay, i) => `--- relay ${'abc'[i]} ---\n${relay.log().slice(-3000)}`);
      throw new Error(`${error.message}\ncommitted ${committed}\n${states.join('\n')}\n${tails.join('\n')}`);
    });
    const events = (await readTopic(brokers, out)).map((m) => JSON.parse(m.value!) as ChangeEvent);
    assert.equal(new Set(events.map((e) => e.columns!.seq)).size, production.produced, 'nothing missing');
    for (const relay of [a, b, c]) assert.equal(await relay.stop(), 0, relay.log().slice(-4000));
  });
});
