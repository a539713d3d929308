import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { pino } from 'pino';
import type { SourceBatch } from '../../src/core/batch.js';
import type { ChangeEvent, RelayEvent } from '../../src/core/event.js';
import type { Handler, HandlerError, SinkRecord } from '../../src/core/handler.js';
import { HandlerChain } from '../../src/core/handler-chain.js';
import { Metrics } from '../../src/core/metrics.js';
import { Sink } from '../../src/core/sink.js';
import { createPassthrough } from '../../src/handlers/passthrough/handler.js';
import { sampleEvent } from '../helpers/events.js';
import { stopped, until } from '../helpers/sinks.js';

/** A handler that throws on rows whose name is "poison", as a user's plugin might. */
const picky: Handler = {
  name: 'picky',
  process: (events) =>
    events.map((event) => {
      if (event.action !== 'raw' && event.columns?.name === 'poison') throw new Error('cannot handle poison');
      return event;
    }),
};

/** Returns an object as the value of rows named "poison": a record no sink can write. */
const objectValues: Handler = {
  name: 'objects',
  process: (events) =>
    events.map((event) =>
      event.action !== 'raw' && event.columns?.name === 'poison'
        ? ({ key: null, value: { a: 1 }, origin: event } as unknown as SinkRecord)
        : event,
    ),
};

/** Replaces every event by a reshaped copy, as enrich does. */
const reshaping: Handler = {
  name: 'reshape',
  process: (events) => events.map((event) => ({ ...event })),
};

/** Records what reaches the destination and the dead-letter destination. */
class RecordingSink extends Sink {
  readonly written: SinkRecord[] = [];
  readonly deadLettered: { events: RelayEvent[]; error: HandlerError }[] = [];

  constructor(
    private readonly withDeadLetters: boolean,
    handlers: Handler[] = [picky],
  ) {
    super(
      'out',
      'test',
      ['src'],
      {
        batch: { size: 100, bytes: 1 << 20, lingerMs: 0 },
        bufferBytes: 1 << 20,
        retry: { initialMs: 1, maxMs: 1 },
      },
      {
        log: pino({ level: 'silent' }),
        logLevel: 'silent',
        metrics: new Metrics(),
        chain: new HandlerChain(handlers, createPassthrough()),
      },
    );
  }

  protected open(): Promise<void> {
    return Promise.resolve();
  }

  protected write(records: SinkRecord[]): Promise<number> {
    this.written.push(...records);
    return Promise.resolve(records.length);
  }

  protected close(): Promise<void> {
    return Promise.resolve();
  }

  protected override deadLetter(events: RelayEvent[], error: HandlerError): Promise<boolean> {
    if (!this.withDeadLetters) return Promise.resolve(false);
    this.deadLettered.push({ events, error });
    return Promise.resolve(true);
  }
}

function batch(...names: string[]): SourceBatch {
  return {
    source: 'src',
    events: names.map((name, i) => sampleEvent({ id: `0/1:${i}`, columns: { id: String(i), name } })),
    bytes: 100,
    originTimeMs: Date.now(),
  };
}

describe('a handler that throws (plugin-throws policy)', () => {
  it('with a dead-letter destination: that event is dead-lettered, the rest delivered and acknowledged', async () => {
    const sink = new RecordingSink(true);
    sink.start();
    let acked = 0;
    sink.accept(batch('ann', 'poison', 'bob'), () => acked++);
    await until('the rest of the batch to be delivered', () => sink.stats.batches > 0);
    await stopped(sink, AbortSignal.timeout(1000));
    assert.deepEqual(
      sink.written.map((r) => (JSON.parse(String(r.value)) as ChangeEvent).columns?.name),
      ['ann', 'bob'],
    );
    assert.equal(sink.deadLettered.length, 1);
    const [{ events, error }] = sink.deadLettered as [{ events: RelayEvent[]; error: HandlerError }];
    assert.equal(events.length, 1);
    assert.equal(events[0]!.action !== 'raw' && events[0]!.columns?.name, 'poison');
    assert.equal(error.code, 'PGRELAY_HANDLER');
    assert.equal(error.handler, 'picky');
    assert.match(
      error.message,
      /handler "picky" failed on insert of public\.users \(id 0\/1:1\): cannot handle poison/,
    );
    assert.equal(acked, 1);
    assert.deepEqual(sink.stats.dropped, { dead_letter: 1 });
  });

  it('behind a handler that replaces events, dead-letters the event the sink received, once', async () => {
    const sink = new RecordingSink(true, [reshaping, picky]);
    sink.start();
    const input = batch('ann', 'poison', 'bob');
    let acked = 0;
    sink.accept(input, () => acked++);
    await until('the rest of the batch to be delivered', () => sink.stats.batches > 0);
    await stopped(sink, AbortSignal.timeout(1000));
    assert.equal(sink.deadLettered.length, 1);
    assert.equal(sink.deadLettered[0]!.events[0], input.events[1], 'the event as received');
    assert.equal(sink.deadLettered[0]!.error.handler, 'picky');
    assert.equal(sink.written.length, 2);
    assert.equal(acked, 1);
  });

  it('a record no sink can write counts as a throw: dead-lettered, named, never written', async () => {
    const sink = new RecordingSink(true, [objectValues]);
    sink.start();
    const input = batch('ann', 'poison', 'bob');
    let acked = 0;
    sink.accept(input, () => acked++);
    await until('the record dead-lettered and the batch acknowledged', () => acked === 1);
    await stopped(sink, AbortSignal.timeout(1000));
    assert.equal(sink.deadLettered.length, 1);
    const [{ events, error }] = sink.deadLettered as [{ events: RelayEvent[]; error: HandlerError }];
    assert.deepEqual(events, [input.events[1]]);
    assert.equal(error.code, 'PGRELAY_HANDLER');
    assert.match(
      error.message,
      /^handler "objects" failed on insert of public\.users \(id 0\/1:1\): process\(\) returned a record no sink can write: its value is an object/,
    );
    assert.deepEqual(
      sink.written.map((r) => (JSON.parse(String(r.value)) as ChangeEvent).columns?.name),
      ['ann', 'bob'],
    );
    assert.equal(acked, 1);
  });

  it('a record no sink can write, without a dead-letter destination: the sink stops, holding positions', async () => {
    const sink = new RecordingSink(false, [objectValues]);
    sink.start();
    let acked = 0;
    sink.accept(batch('ann', 'poison', 'bob'), () => acked++);
    await until('the sink to fail', () => sink.health.state === 'failed');
    await stopped(sink, AbortSignal.timeout(1000));
    assert.equal(sink.health.state, 'failed');
    assert.equal(sink.health.lastError?.code, 'PGRELAY_HANDLER');
    assert.match(
      sink.health.lastError?.message ?? '',
      /^handler "objects" failed on insert .* \(id 0\/1:1\): .*its value is an object/,
    );
    assert.deepEqual(sink.written, []);
    assert.equal(acked, 0);
  });

  it('without one: the sink stops with a named error and acknowledges nothing, holding positions', async () => {
    const sink = new RecordingSink(false);
    sink.start();
    let acked = 0;
    sink.accept(batch('ann', 'poison', 'bob'), () => acked++);
    sink.accept(batch('carl'), () => acked++);
    await until('the sink to fail', () => sink.health.state === 'failed');
    await stopped(sink, AbortSignal.timeout(1000));
    assert.equal(sink.health.state, 'failed');
    assert.equal(sink.health.lastError?.code, 'PGRELAY_HANDLER');
    assert.match(sink.health.lastError?.message ?? '', /handler "picky" failed on insert .* \(id 0\/1:1\)/);
    assert.deepEqual(sink.written, []);
    assert.equal(acked, 0);
  });
});
