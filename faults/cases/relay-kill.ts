import { kafkaSink, kafkaSource } from '../../test/fixtures/configs.js';
import { partitionedMessages } from '../../test/fixtures/events.js';
import { PgrelayProcess } from '../../test/harness/pgrelay.js';
import { waitFor } from '../../test/harness/processes.js';
import { sharedKafka } from '../../test/harness/services.js';
import {
  committedOffsets,
  createTopics,
  endOffsets,
  produce,
  uniqueName,
  waitForSize,
} from '../../test/harness/topics.js';
import { type ConsumedMessage, scanTopic } from '../../test/harness/kcat.js';
import { BATCH_SIZE, type FaultCase, result } from '../fault-case.js';
import { streamingAgain } from '../recovery.js';
import { type FaultMark, type Kill, seqOf, tally } from '../tally.js';

export interface RelayKillOptions {
  messages: number;
  kills: number;
  /** exactly_once = true: a read_committed reader must see no duplicate at all. */
  exactlyOnce?: boolean;
}

const PARTITIONS = 3;
/** Rows the messages change, a multiple of PARTITIONS: each row stays on one partition. */
const ROWS = 300;
const PRODUCE_CHUNK = 10_000;

/**
 * Whether a relayed message's input lies before the group's committed offsets (a restart does not
 * read it again): input `seq` went to partition seq % PARTITIONS at offset seq / PARTITIONS
 * (partitionedMessages, produced in order into an empty topic).
 */
export function coveredByCommits(
  committed: ReadonlyMap<number, number>,
): (message: ConsumedMessage) => boolean {
  return (message) => {
    const seq = Number(seqOf(message));
    if (!Number.isInteger(seq)) return false;
    return Math.floor(seq / PARTITIONS) < (committed.get(seq % PARTITIONS) ?? 0);
  };
}

/** The exactly_once relay's transaction timeout here: shorter than the default, to exercise the key. */
const TRANSACTION_TIMEOUT = '10s';

/**
 * kill -9 of a Kafka → Kafka relay at random points of a backlog, restarted at once: counted by the
 * `seq` each input message carries (read read_committed). The duplicates each kill may cause are
 * what was in flight at it: messages in the output topic whose input the committed offsets do not
 * cover; with `exactlyOnce`, none (the output and the offsets commit in one transaction, and a
 * restart aborts the one the kill left open).
 */
export function relayKill({ messages, kills, exactlyOnce = false }: RelayKillOptions): FaultCase {
  return {
    name: `Kafka relay kill -9 ×${kills}${exactlyOnce ? ', exactly once' : ''}`,
    injected:
      `SIGKILL to a relay of ${messages.toLocaleString('en-US')} messages (${PARTITIONS} partitions) at random points, restart` +
      (exactlyOnce
        ? `; exactly_once = true, transaction_timeout = "${TRANSACTION_TIMEOUT}", read back read_committed`
        : ''),
    async run({ random, log }) {
      const brokers = await sharedKafka();
      const input = uniqueName('faults-relay');
      const [out, group] = [`${input}.out`, `${input}-group`];
      await createTopics(brokers, [input], PARTITIONS);
      await createTopics(brokers, [out], 1);
      for (let first = 0; first < messages; first += PRODUCE_CHUNK)
        await produce(
          brokers,
          input,
          partitionedMessages(first, Math.min(PRODUCE_CHUNK, messages - first), ROWS, PARTITIONS),
        );
      const relay = await PgrelayProcess.create(
        kafkaSource('edge', {
          brokers,
          topics: [input],
          group_id: group,
          session_timeout: '6s',
          ...(exactlyOnce ? { exactly_once: true, transaction_timeout: TRANSACTION_TIMEOUT } : {}),
        }) +
          kafkaSink('central', { brokers, sources: ['edge'], topic_fallback: out, batch_size: BATCH_SIZE }),
      );
      try {
        const committed = async () =>
          [...(await committedOffsets(brokers, group, input)).values()].reduce(
            (a, b) => a + Math.max(0, b),
            0,
          );
        const finished = async () => (await committed()) === messages;
        await relay.start();
        const marks: FaultMark[] = [];
        const killed: Kill[] = [];
        const recoveries: (number | undefined)[] = [];
        // One kill in each of `kills` equal stretches of the backlog, at a random point of it.
        const points = Array.from({ length: kills }, (_, k) =>
          Math.floor(((k + random()) * messages) / (kills + 1)),
        );
        for (const [kill, point] of points.entries()) {
          await waitForSize(brokers, out, point, 180_000);
          marks.push(await endOffsets(brokers, out));
          const faultAt = Date.now();
          await relay.kill();
          const killMs = Date.now() - faultAt;
          // Read while the relay is down; not part of the recovery time.
          const commits = await committedOffsets(brokers, group, input);
          killed.push({ end: await endOffsets(brokers, out), covered: coveredByCommits(commits) });
          await relay.start({ waitRunning: false });
          const recovery = await streamingAgain(relay, 'edge', Date.now() - killMs, finished);
          recoveries.push(recovery);
          log(`relay kill ${kill + 1}/${kills} at ${point}: streaming again after ${recovery ?? 'never'} ms`);
          if (recovery === undefined) break;
        }
        const settled = await waitFor(
          'every input offset to be committed',
          async () => ((await finished()) ? true : undefined),
          180_000,
        ).then(
          () => undefined,
          () => `not every offset committed (${messages} expected)`,
        );
        const counts = await tally(
          brokers,
          out,
          Array.from({ length: messages }, (_, seq) => String(seq)),
          seqOf,
          marks,
          killed,
        );
        return result(this, counts, {
          bound: exactlyOnce ? { perFault: 0 } : { inFlight: counts.inFlight },
          recoveries,
          problems: [settled],
          notes: exactlyOnce
            ? [
                await abortedNote(
                  brokers,
                  out,
                  counts.expected - counts.lost + counts.unexpected + counts.duplicated,
                ),
              ]
            : [],
        });
      } finally {
        await relay.destroy();
      }
    },
  };
}

/**
 * How many records of aborted transactions the output holds: what a read_uncommitted reader sees
 * beyond the `committed` messages a read_committed one saw.
 */
async function abortedNote(brokers: string[], topic: string, committed: number): Promise<string> {
  const all = await scanTopic(brokers, topic, () => undefined, 'read_uncommitted');
  return `${(all - committed).toLocaleString('en-US')} records of aborted transactions (seen read_uncommitted only)`;
}
