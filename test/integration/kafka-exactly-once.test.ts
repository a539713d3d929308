import assert from 'node:assert/strict';
import { after, describe, it } from 'node:test';
import type { ChangeEvent } from '../../src/core/event.js';
import { kafkaSink, kafkaSource } from '../fixtures/configs.js';
import { partitionedMessages, runsPerRow } from '../fixtures/events.js';
import { readTopic, scanTopic } from '../harness/kcat.js';
import { PgrelayProcess } from '../harness/pgrelay.js';
import { tempDir, waitFor } from '../harness/processes.js';
import { sharedKafka } from '../harness/services.js';
import { committedOffsets, createTopics, produce, uniqueName } from '../harness/topics.js';
import path from 'node:path';

const PARTITIONS = 3;
const ROWS = 3000; // a multiple of PARTITIONS: each row stays on partition seq % PARTITIONS
const TOTAL = 200_000;
const KILLS = 10;
/** Messages per request of the input stream. */
const CHUNK = 2_000;

async function committedTotal(brokers: string[], group: string, input: string): Promise<number> {
  const committed = await committedOffsets(brokers, group, input);
  return [...committed.values()].reduce((a, b) => a + Math.max(0, b), 0);
}

/**
 * Keeps input arriving up to TOTAL, a chunk whenever the relays have committed all but three, so
 * they are always busy (mid-stream) when one is killed. Progress is read from the group's
 * committed offsets: the output's end offsets also count aborted records and transaction markers.
 */
function stream(brokers: string[], input: string, group: string) {
  const done = (async () => {
    for (let next = TOTAL / 10; next < TOTAL; next += CHUNK) {
      await waitFor(
        `the relays to commit ${next - 3 * CHUNK} input messages`,
        async () => ((await committedTotal(brokers, group, input)) >= next - 3 * CHUNK ? true : undefined),
        120_000,
      );
      await produce(
        brokers,
        input,
        partitionedMessages(next, Math.min(CHUNK, TOTAL - next), ROWS, PARTITIONS),
      );
    }
  })();
  done.catch(() => undefined); // surfaces where it is awaited
  return done;
}

/**
 * Two relay processes share the consumer group; one of them is killed (-9) at a time, alternately,
 * and started again on its state file (so with its transactional id) while the other goes on, so
 * partitions move between them at every kill. What a read_committed reader finds is counted.
 */
describe('exactly-once Kafka relay', () => {
  const processes: PgrelayProcess[] = [];
  after(async () => {
    for (const p of processes) await p.destroy();
  });

  it('delivers every message once, in order per key, across kill -9 and rebalances', async (t) => {
    const brokers = await sharedKafka();
    const input = uniqueName('eos');
    const [out, group] = [`${input}.out`, `${input}-group`];
    await createTopics(brokers, [input, out], PARTITIONS);
    await produce(brokers, input, partitionedMessages(0, TOTAL / 10, ROWS, PARTITIONS));
    const config =
      kafkaSource('edge', {
        brokers,
        topics: [input],
        group_id: group,
        session_timeout: '3s',
        exactly_once: true,
      }) + kafkaSink('central', { brokers, sources: ['edge'], topic_fallback: out });
    const dir = tempDir('pgrelay-eos-');
    const stateFiles = [path.join(dir, 'a.db'), path.join(dir, 'b.db')];
    const relays: PgrelayProcess[] = [];
    for (const stateFile of stateFiles) {
      const relay = await PgrelayProcess.create(config, '', stateFile);
      processes.push(relay);
      await relay.start();
      relays.push(relay);
    }
    const producing = stream(brokers, input, group);

    for (let kill = 1; kill <= KILLS; kill++) {
      const target = (kill * TOTAL) / (KILLS + 1);
      const victim = kill % 2;
      await waitFor(
        `the relays to commit ${target} input messages before kill ${kill}`,
        async () => ((await committedTotal(brokers, group, input)) >= target ? true : undefined),
        120_000,
        relays[victim]!.logFile,
      );
      await relays[victim]!.kill();
      t.diagnostic(
        `kill ${kill}: relay ${'ab'[victim]} with ${await committedTotal(brokers, group, input)} input messages committed`,
      );
      const again = await PgrelayProcess.create(config, '', stateFiles[victim]);
      processes.push(again);
      await again.start();
      relays[victim] = again;
    }

    await producing;
    let committed = 0;
    await waitFor(
      () => `every input offset to be committed (${committed} are)`,
      async () => ((committed = await committedTotal(brokers, group, input)) === TOTAL ? true : undefined),
      120_000,
      relays[0]!.logFile,
    );
    for (const relay of relays) assert.equal(await relay.stop(), 0);

    const events = (await readTopic(brokers, out, 'read_committed')).map(
      (m) => JSON.parse(m.value!) as ChangeEvent,
    );
    const seen = new Map<number, number>();
    for (const event of events) {
      const seq = event.columns!.seq as number;
      seen.set(seq, (seen.get(seq) ?? 0) + 1);
    }
    const missing = TOTAL - seen.size;
    const twice = [...seen.values()].filter((n) => n > 1).length;
    assert.equal(missing, 0, 'every input message is in the output');
    assert.equal(twice, 0, 'no input message is in the output twice');
    assert.equal(events.length, TOTAL);
    for (const [row, runs] of runsPerRow(events)) {
      assert.equal(runs.length, 1, `${row}: in order: ${JSON.stringify(runs.slice(0, 3))}`);
    }
    // The log holds more than the committed output: what the killed relays wrote in transactions
    // that were aborted (skipped by read_committed readers), and the transaction markers.
    const written = await scanTopic(brokers, out, () => undefined, 'read_uncommitted');
    t.diagnostic(
      `${TOTAL} messages read committed, each once; ${written - TOTAL} more written in aborted transactions`,
    );
  });
});
