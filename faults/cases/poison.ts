import type { ChangeEvent } from '../../src/core/event.js';
import { kafkaSink, kafkaSource } from '../../test/fixtures/configs.js';
import { relayMessages } from '../../test/fixtures/events.js';
import { readTopic } from '../../test/harness/kcat.js';
import { PgrelayProcess } from '../../test/harness/pgrelay.js';
import { waitFor } from '../../test/harness/processes.js';
import { sharedKafka } from '../../test/harness/services.js';
import { type TestMessage, createTopics, produce, uniqueName } from '../../test/harness/topics.js';
import { type FaultCase, result } from '../fault-case.js';
import { seqOf, tally } from '../tally.js';

const [good] = relayMessages(1);
const goodEvent = JSON.parse(good!.value) as ChangeEvent;

/** Kafka messages a Kafka source cannot decode, by kind. */
const KINDS: Record<string, Buffer | string | null> = {
  'not JSON': 'not json at all',
  'truncated JSON': good!.value.slice(0, 40),
  'invalid UTF-8': Buffer.from([0x7b, 0xff, 0xfe, 0x7d]),
  'no value (tombstone)': null,
  'JSON array': '[1,2,3]',
  'event without lsn': JSON.stringify({ ...goodEvent, lsn: undefined }),
  'unknown action': JSON.stringify({ ...goodEvent, action: 'explode' }),
  'psql-streamer without UUID': '{"Table":"t","Action":"insert","Columns":{}}',
};
/** Larger than the broker takes by default (message.max.bytes, about 1 MB), so larger than a default dead-letter topic takes. */
const OVERSIZE_BYTES = 5 * 1024 * 1024;
const OVERSIZE = 'oversize (5 MB, not JSON)';

export interface PoisonOptions {
  /** Send undecodable messages to a dead-letter topic, or skip and count them. */
  deadLetter: boolean;
  /** Which poison: the eight kinds, the oversize one, or both. */
  kinds: 'eight' | 'oversize' | 'all';
  /** Good messages around them. */
  messages: number;
}

/** How long the good messages may take; a stalled partition never delivers them. */
const ARRIVAL_TIMEOUT_MS = 60_000;

/**
 * Undecodable messages among good ones on a Kafka source, two partitions: everything else must
 * arrive once, and each poison be dead-lettered once, or skipped and counted.
 */
export function poison({ deadLetter, kinds, messages }: PoisonOptions): FaultCase {
  const poisons = Object.entries({
    ...(kinds === 'oversize' ? {} : KINDS),
    ...(kinds === 'eight' ? {} : { [OVERSIZE]: `not json ${'x'.repeat(OVERSIZE_BYTES)}` }),
  });
  const what = kinds === 'eight' ? 'eight kinds of' : kinds === 'oversize' ? 'one 5 MB' : 'nine kinds of';
  return {
    name: `poison${kinds === 'oversize' ? ' (oversize)' : ''}${deadLetter ? ' → dead-letter topic' : ', no dead-letter topic'}`,
    injected: `${what} undecodable message among ${messages.toLocaleString('en-US')} good ones (Kafka source)${deadLetter ? ', dead_letter_topic set' : ''}`,
    async run({ log }) {
      const brokers = await sharedKafka();
      const input = uniqueName('faults-poison');
      const [out, dlq, group] = [`${input}.out`, `${input}.dlq`, `${input}-group`];
      // The input takes the oversize message; the output and dead-letter topics keep the broker's limit.
      await createTopics(brokers, [input], 2, { 'max.message.bytes': String(2 * OVERSIZE_BYTES) });
      await createTopics(brokers, [out, ...(deadLetter ? [dlq] : [])], 1);
      const goodOnes: TestMessage[] = relayMessages(messages).map((m, i) => ({ ...m, partition: i % 2 }));
      // Each poison after a stretch of good messages, on alternate partitions, keyed by its kind.
      const stream: TestMessage[] = [];
      const stretch = Math.floor(messages / (poisons.length + 1));
      for (const [i, [kind, value]] of poisons.entries()) {
        stream.push(...goodOnes.slice(i * stretch, (i + 1) * stretch), {
          key: `poison: ${kind}`,
          value,
          partition: i % 2,
        });
      }
      stream.push(...goodOnes.slice(poisons.length * stretch));
      for (let i = 0; i < stream.length; i += 100) await produce(brokers, input, stream.slice(i, i + 100));

      const relay = await PgrelayProcess.create(
        kafkaSource('edge', {
          brokers,
          topics: [input],
          group_id: group,
          dead_letter_topic: deadLetter ? dlq : undefined,
        }) + kafkaSink('central', { brokers, sources: ['edge'], topic_fallback: out }),
      );
      try {
        await relay.start({ waitRunning: false });
        const problems: string[] = [];
        await waitFor(
          'every good message to arrive',
          async () => ((await readTopic(brokers, out).catch(() => [])).length >= messages ? true : undefined),
          ARRIVAL_TIMEOUT_MS,
        ).catch(() => problems.push(`not every good message arrived within ${ARRIVAL_TIMEOUT_MS / 1000} s`));
        const status = await relay.status();
        const source = status.sources.edge!;
        if (source.state !== 'running')
          problems.push(`source ${source.state} (${source.last_error?.code ?? 'no error code'})`);
        if (deadLetter) {
          const letters = await readTopic(brokers, dlq).catch(() => []);
          for (const [kind] of poisons) {
            const copies = letters.filter((m) => m.key === `poison: ${kind}`).length;
            if (copies !== 1) problems.push(`${kind}: dead-lettered ${copies} times`);
          }
        } else {
          const stats = (await (await relay.get('/stats')).json()) as {
            sources: { edge: { dropped: Record<string, number> } };
          };
          const dropped = stats.sources.edge.dropped.undecodable ?? 0;
          if (dropped !== poisons.length)
            problems.push(`${dropped} counted as undecodable, ${poisons.length} sent`);
        }
        log(problems.length === 0 ? 'ok' : problems.join('; '));
        const counts = await tally(
          brokers,
          out,
          Array.from({ length: messages }, (_, seq) => String(seq)),
          seqOf,
        );
        return result(this, counts, { bound: { perFault: 0 }, problems });
      } finally {
        await relay.destroy();
      }
    },
  };
}
