import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { StubSink } from '../../src/sinks/stub/sink.js';
import { stubSinkSchema } from '../../src/sinks/stub/config.js';
import { batchOf, changeEvents } from '../helpers/events.js';
import { type LogLine, capturedLogger } from '../helpers/log.js';
import { sinkContext, stopped, testSettings, until } from '../helpers/sinks.js';

/** A started stub sink logging into memory at info level, as pgrelay builds it. */
function stubSink(mode: 'log' | 'discard') {
  const { log, lines } = capturedLogger('info');
  const config = stubSinkSchema.parse({ type: 'stub', sources: ['db1'], mode });
  const sink = new StubSink(
    'dry',
    config,
    testSettings(),
    sinkContext({ log: log.child({ component: 'dry' }) }),
  );
  sink.start();
  return { sink, lines };
}

/** Delivers one batch of `count` events and waits for its ack. */
async function deliver(sink: StubSink, count: number): Promise<void> {
  let acked = false;
  sink.accept(batchOf(changeEvents(count)), () => (acked = true));
  await until(`the batch of ${count} to be acknowledged`, () => acked);
}

const batchLines = (lines: LogLine[]) => lines.filter((l) => l.msg.startsWith('stub sink dry: batch of'));
const eventLines = (lines: LogLine[]) => lines.filter((l) => l.msg === 'delivered');

describe('stub sink', () => {
  test('log mode writes one line per batch, and per-event lines only while debug is on', async () => {
    const { sink, lines } = stubSink('log');
    await deliver(sink, 3);
    assert.deepEqual(
      batchLines(lines).map((l) => [l.level, l.msg, l.records, l.component]),
      [['info', 'stub sink dry: batch of 3 records', 3, 'dry']],
    );
    assert.deepEqual(eventLines(lines), []);

    sink.debug = true;
    await deliver(sink, 2);
    assert.equal(batchLines(lines).length, 2);
    const perEvent = eventLines(lines);
    assert.equal(perEvent.length, 2);
    assert.equal(perEvent[0]!.level, 'debug');
    const record = perEvent[0]!.record as { value: string };
    assert.equal((JSON.parse(record.value) as { table: string }).table, 'users', 'the line shows the record');

    sink.debug = false;
    await deliver(sink, 4);
    assert.equal(batchLines(lines).length, 3);
    assert.equal(eventLines(lines).length, 2, 'no per-event lines once debug is off again');
    await stopped(sink);
  });

  test('discard mode delivers silently but counts what it discarded', async () => {
    const { sink, lines } = stubSink('discard');
    await deliver(sink, 5);
    assert.deepEqual(batchLines(lines), []);
    assert.equal(sink.stats.eventsOut, 5);
    assert.equal(sink.stats.batches, 1);
    assert.ok(sink.stats.bytes > 0, 'bytes count the encoded records');

    sink.debug = true;
    await deliver(sink, 1);
    assert.equal(eventLines(lines).length, 1, 'debug shows per-event lines in discard mode too');
    await stopped(sink);
    assert.equal(sink.health.state, 'stopped');
  });
});
