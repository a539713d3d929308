/**
 * Kafka → pgrelay → Kafka: how many messages per second pgrelay relays between topics with
 * acks=all, next to kcat alone copying the same topic on the same broker.
 */
import { execFile } from 'node:child_process';
import { setTimeout as sleep } from 'node:timers/promises';
import { promisify } from 'node:util';
import { kafkaSink, kafkaSource } from '../test/fixtures/configs.js';
import { relayMessages } from '../test/fixtures/events.js';
import { PgrelayProcess } from '../test/harness/pgrelay.js';
import { sharedKafka } from '../test/harness/services.js';
import {
  adminClient,
  committedOffsets,
  createTopics,
  produce,
  topicSize,
  uniqueName,
} from '../test/harness/topics.js';
import type { Admin } from '@platformatic/kafka';
import { brokerCpu, brokerCpuNote } from './broker.js';
import { type BenchResult, POLL_MS, wholeNumber } from './report.js';

const run = promisify(execFile);

const COUNT = 200_000;
const PARTITIONS = 4;

/**
 * The relay twice beside one kcat copy of the same topic: `format = "auto"` (each event checked
 * and routed by its table, with pgrelay's headers: what relaying pgrelay events needs) and
 * `format = "raw"` (key, value and headers passed through as bytes, as kcat does).
 */
export async function benchRelay(): Promise<BenchResult[]> {
  const brokers = await sharedKafka();
  const prefix = uniqueName('bench-relay');
  const source = `${prefix}.in`;
  const copies = [`${prefix}.kcat-1`, `${prefix}.kcat-2`];
  const formats = ['auto', 'raw'] as const;
  const targets = (format: string) => [`${prefix}.${format}-1`, `${prefix}.${format}-2`];
  await createTopics(brokers, [source, ...copies, ...formats.flatMap(targets)], PARTITIONS);
  const messages = relayMessages(COUNT, { rows: 10_000 });
  await produce(brokers, source, messages);
  const averageBytes = messages.reduce((n, m) => n + m.key.length + m.value.length, 0) / COUNT;
  // The broker makes its group-offsets topic when a group is first asked for (0.3 s measured), and
  // kcat copies without a group: asking here keeps that out of whichever relay would run first.
  await committedOffsets(brokers, `${prefix}-warm-up`, source);
  // The faster of two copies: one copy's rate moved from 141,661 to 225,602 messages/s between runs
  // of the same day, and a slow one made the ratio look better than the relay was.
  const [first, second] = [
    await kcatCopy(brokers, source, copies[0]!, COUNT),
    await kcatCopy(brokers, source, copies[1]!, COUNT),
  ];
  const kcat = first.seconds <= second.seconds ? first : second;
  const baseline = {
    name: 'kcat -C | kcat -P (acks=all), same broker, faster of two copies',
    perSecond: COUNT / kcat.seconds,
  };
  const kcatCpu = `kcat -C | kcat -P CPU ${((kcat.cpuSeconds / COUNT) * 1e6).toFixed(1)} µs per message (both processes, user + system)`;
  // Each relay twice too, the formats taking turns: the broker compiles its code for a client's
  // requests on first use, and its CPU per relayed message fell from 14.4 to 7.9 to 6.3 µs over
  // three runs of one relay (measured; kcat's copies warm only kcat's requests).
  const runs = { auto: [] as RelayRun[], raw: [] as RelayRun[] };
  for (const round of [0, 1])
    for (const format of formats)
      runs[format].push(await timedRelayToSize(brokers, source, targets(format)[round]!, format));
  const results: BenchResult[] = [];
  for (const format of formats) {
    const result = fasterRun(runs[format]);
    results.push({
      ...result,
      name:
        format === 'auto'
          ? 'Kafka → pgrelay → Kafka relay (acks=all)'
          : 'Kafka → pgrelay → Kafka relay, format = "raw" (acks=all)',
      baseline,
      targets: [`>= 0.5 x kcat | kcat: ${result.perSecond >= 0.5 * baseline.perSecond ? 'met' : 'NOT met'}`],
      notes: [
        `pgrelay events of ~${Math.round(averageBytes)} bytes, ${PARTITIONS} partitions, format ${format}, passthrough handler, compression none (as kcat -P writes)`,
        ...result.notes,
        kcatCpu,
        ...kcat.brokerNotes.map((note) => `kcat's copy: ${note}`),
      ],
    });
  }
  return results;
}

type RelayRun = Awaited<ReturnType<typeof timedRelayToSize>>;

/** The faster run's rate and notes, with the higher CPU per message and peak RSS of the runs. */
function fasterRun(runs: RelayRun[]): RelayRun {
  const faster = runs.reduce((best, run) => (run.seconds < best.seconds ? run : best));
  return {
    ...faster,
    cpuMicrosPerUnit: Math.max(...runs.map((run) => run.cpuMicrosPerUnit)),
    peakRssMb: Math.max(...runs.map((run) => run.peakRssMb ?? 0)),
    notes: [
      `faster of ${runs.length} runs (${runs.map((run) => run.seconds.toFixed(2)).join(' s, ')} s); CPU per message and peak RSS: the higher of them`,
      ...faster.notes,
    ],
  };
}

/**
 * One relay process from `source` to `target` with `format`, timed from its start until `target`
 * holds every message. It writes uncompressed, as the kcat copy does: with the sink's default lz4
 * the relay also compresses every batch and the broker, on the same two cores, decompresses each
 * to check it.
 */
async function timedRelayToSize(brokers: string[], source: string, target: string, format: 'auto' | 'raw') {
  const admin = adminClient(brokers);
  const relay = await PgrelayProcess.create(
    kafkaSource('edge', { brokers, topics: [source], group_id: `${target}-group`, format }) +
      kafkaSink('central', {
        brokers,
        sources: ['edge'],
        topic_fallback: target,
        acks: 'all',
        compression: 'none',
      }),
  );
  try {
    const broker = brokerCpu();
    const started = performance.now();
    await relay.start({ waitRunning: false });
    const running = relay.waitRunning(60_000, POLL_MS.running).then(() => performance.now());
    await untilSize(admin, target, COUNT);
    const seconds = (performance.now() - started) / 1000;
    const cpuMicrosPerUnit = ((relay.cpuSeconds() ?? 0) / COUNT) * 1e6;
    const startupSeconds = ((await running) - started) / 1000;
    const size = await topicSize(admin, target);
    return {
      unit: 'messages',
      count: COUNT,
      seconds,
      perSecond: COUNT / seconds,
      peakRssMb: relay.peakRssMb(),
      cpuMicrosPerUnit,
      notes: [
        `time from process start; of it ${startupSeconds.toFixed(1)} s until /status ok (start, group join): ` +
          `${wholeNumber(COUNT / (seconds - startupSeconds))} messages/s after that`,
        ...brokerCpuNote(broker, COUNT, 'message'),
        ...(size === COUNT ? [] : [`target holds ${size} messages: ${size - COUNT} duplicates`]),
      ],
    };
  } finally {
    await relay.stop();
    await relay.destroy();
    await admin.close();
  }
}

/**
 * The exactly-once relay (exactly_once = true: every delivery a transaction that also commits the
 * consumed offsets) next to the at-least-once relay, both relaying the same topic on the same
 * broker in this run. Each is timed from process start until the group committed every input
 * offset: for the exactly-once relay that is when the last transaction committed, and the output
 * topic's end offsets also count transaction markers, so they cannot tell.
 */
export async function benchExactlyOnceRelay(): Promise<BenchResult> {
  const brokers = await sharedKafka();
  const prefix = uniqueName('bench-eos');
  const [source, atLeastOnce, exactlyOnce] = [`${prefix}.in`, `${prefix}.alo`, `${prefix}.eos`];
  await createTopics(brokers, [source, atLeastOnce, exactlyOnce], PARTITIONS);
  await produce(brokers, source, relayMessages(COUNT, { rows: 10_000 }));
  const plain = await timedRelay(brokers, source, atLeastOnce, `${prefix}-alo`, false);
  const transactional = await timedRelay(brokers, source, exactlyOnce, `${prefix}-eos`, true);
  return {
    name: 'Kafka → pgrelay → Kafka relay, exactly once (transactions)',
    unit: 'messages',
    count: COUNT,
    seconds: transactional.seconds,
    perSecond: COUNT / transactional.seconds,
    peakRssMb: transactional.peakRssMb,
    cpuMicrosPerUnit: transactional.cpuMicrosPerUnit,
    baseline: { name: 'the at-least-once relay, same topic, this run', perSecond: COUNT / plain.seconds },
    notes: [
      `${PARTITIONS} partitions, default batch_size: one transaction per delivery of up to 1,000 messages`,
      `at-least-once relay CPU ${plain.cpuMicrosPerUnit.toFixed(1)} µs per message, peak RSS ${Math.round(plain.peakRssMb ?? 0)} MB`,
      `time from process start until every input offset is committed`,
    ],
  };
}

/** One relay process from `source` to `target` in group `group`, until the group committed every message. */
async function timedRelay(
  brokers: string[],
  source: string,
  target: string,
  group: string,
  exactlyOnce: boolean,
) {
  const relay = await PgrelayProcess.create(
    kafkaSource('edge', { brokers, topics: [source], group_id: group, exactly_once: exactlyOnce }) +
      kafkaSink('central', { brokers, sources: ['edge'], topic_fallback: target, acks: 'all' }),
  );
  try {
    const started = performance.now();
    await relay.start({ waitRunning: false });
    const deadline = Date.now() + 600_000;
    for (;;) {
      const committed = await committedOffsets(brokers, group, source);
      if ([...committed.values()].reduce((sum, offset) => sum + Math.max(0, offset), 0) >= COUNT) break;
      if (Date.now() > deadline)
        throw new Error(`bench: group ${group} did not commit ${COUNT} offsets in 10 minutes`);
      await sleep(20);
    }
    const seconds = (performance.now() - started) / 1000;
    return {
      seconds,
      cpuMicrosPerUnit: ((relay.cpuSeconds() ?? 0) / COUNT) * 1e6,
      peakRssMb: relay.peakRssMb(),
    };
  } finally {
    await relay.stop();
    await relay.destroy();
  }
}

/**
 * kcat consuming `from` to its end, piped into kcat producing to `to` with acks=all: seconds taken,
 * and the CPU seconds both kcat processes used (bash's `times`, second line: its children). Fails
 * unless `to` then holds `count` messages: a kcat that is missing or cannot reach the broker would
 * otherwise copy nothing in milliseconds and make the baseline absurd.
 */
async function kcatCopy(brokers: string[], from: string, to: string, count: number) {
  const broker = brokers.join(',');
  const brokerBefore = brokerCpu();
  const started = performance.now();
  const { stdout } = await run('bash', [
    '-o',
    'pipefail',
    '-c',
    `kcat -C -b ${broker} -t ${from} -o beginning -e -q -f '%k\\t%s\\n' | kcat -P -b ${broker} -t ${to} -K '\\t' -X acks=all; ` +
      'copied=$?; times; exit $copied',
  ]);
  const seconds = (performance.now() - started) / 1000;
  const size = await topicSize(brokers, to);
  if (size !== count)
    throw new Error(`bench: kcat copied ${size} of ${count} messages from ${from} to ${to}`);
  const children = stdout.trim().split('\n').at(-1) ?? '';
  const cpuSeconds = [...children.matchAll(/(\d+)m([\d.]+)s/g)].reduce(
    (sum, [, minutes, secs]) => sum + Number(minutes) * 60 + Number(secs),
    0,
  );
  return { seconds, cpuSeconds, brokerNotes: brokerCpuNote(brokerBefore, count, 'message') };
}

/** Polls end offsets often, so the measured time is not rounded up by much. */
async function untilSize(admin: Admin, topic: string, count: number): Promise<void> {
  const deadline = Date.now() + 600_000;
  while ((await topicSize(admin, topic)) < count) {
    if (Date.now() > deadline)
      throw new Error(`bench: ${topic} did not reach ${count} messages in 10 minutes`);
    await sleep(20);
  }
}
