import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { createPassthrough } from '../../src/handlers/passthrough/handler.js';
import type { ChangeEvent, RelayEvent } from '../../src/core/event.js';
import { type Handler, type HandlerOutput, HandlerError, type SinkRecord } from '../../src/core/handler.js';
import { HandlerChain } from '../../src/core/handler-chain.js';
import { createDecoder } from '../../src/sources/kafka/decode.js';
import { changeEvent, sampleEvent, sourceMessage } from '../helpers/events.js';
import { capturedLogger } from '../helpers/log.js';

const context = { sink: 'out', log: capturedLogger().log };
const ids = (events: RelayEvent[]) => events.map((e) => (e as ChangeEvent).id);

/** A handler that records the runs it is given and applies `map` to each event. */
function recording(name: string, map: (event: RelayEvent) => HandlerOutput = (e) => e) {
  const runs: string[][] = [];
  const handler: Handler = {
    name,
    process(events) {
      runs.push(ids(events));
      return events.map(map);
    },
  };
  return { handler, runs };
}

const record =
  (label: string) =>
  (event: RelayEvent): SinkRecord => ({
    topic: label,
    key: null,
    value: (event as ChangeEvent).id,
    origin: event,
  });

describe('HandlerChain', () => {
  test('hands each handler runs of consecutive events, keeping earlier records in place', async () => {
    const [a, b, c, d] = ['a', 'b', 'c', 'd'].map((id) => changeEvent({ id }));
    // The first handler turns events of table "audit" into records itself; the rest flow on.
    const first = recording('first', (e) => ((e as ChangeEvent).table === 'audit' ? record('first')(e) : e));
    const second = recording('second');
    const chain = new HandlerChain([first.handler, second.handler], {
      ...recording('final', record('final')).handler,
    });

    const records = await chain.run([a!, b!, { ...c!, table: 'audit' }, d!], context);
    assert.deepEqual(first.runs, [['a', 'b', 'c', 'd']]);
    assert.deepEqual(second.runs, [['a', 'b'], ['d']], 'the record made from c splits the runs');
    assert.deepEqual(
      records.map((r) => `${r.topic}:${String(r.value)}`),
      ['final:a', 'final:b', 'first:c', 'final:d'],
    );
  });

  test('events left at the end are encoded by the final handler (passthrough)', async () => {
    const event = changeEvent({ key: { id: '7' } });
    const [only] = await new HandlerChain([], createPassthrough()).run([event], context);
    assert.equal(only?.key, '{"id":"7"}');
    assert.deepEqual(JSON.parse(String(only?.value)), event);
    assert.equal(only?.origin, event);
  });

  test('a handler may drop events and return nothing for them', async () => {
    const dropper: Handler = {
      name: 'drop',
      process: (events) => events.filter((e) => (e as ChangeEvent).table !== 'secret'),
    };
    const records = await new HandlerChain([dropper], createPassthrough()).run(
      [changeEvent({ id: 'keep' }), changeEvent({ id: 'gone', table: 'secret' })],
      context,
    );
    assert.deepEqual(
      records.map((r) => (r.origin as ChangeEvent).id),
      ['keep'],
    );
  });

  test('a failing handler is tried event by event, so the error names the event it failed on', async () => {
    const events = ['a', 'b', 'c'].map((id) => changeEvent({ id, table: 'users' }));
    const picky: Handler = {
      name: 'picky',
      process(batch) {
        if (batch.some((e) => (e as ChangeEvent).id === 'b')) throw new Error('cannot take b');
        return batch;
      },
    };
    await assert.rejects(new HandlerChain([picky], createPassthrough()).run(events, context), (error) => {
      assert.ok(error instanceof HandlerError);
      assert.equal(error.handler, 'picky');
      assert.equal(error.event, events[1]);
      assert.equal(error.code, 'PGRELAY_HANDLER');
      assert.equal(error.retriable, false);
      assert.equal(error.message, 'handler "picky" failed on insert of public.users (id b): cannot take b');
      return true;
    });
  });

  test('a failure that no single event reproduces names no event and keeps the batch error', async () => {
    const batchOnly: Handler = {
      name: 'batch-only',
      process(batch) {
        if (batch.length > 1) throw new Error('too many at once');
        return batch;
      },
    };
    const events = [changeEvent(), changeEvent()];
    await assert.rejects(new HandlerChain([batchOnly], createPassthrough()).run(events, context), (error) => {
      assert.ok(error instanceof HandlerError);
      assert.equal(error.event, undefined);
      assert.equal(error.message, 'handler "batch-only" failed: too many at once');
      return true;
    });
  });

  test('rejects outputs that are neither events nor records', async () => {
    const cases: [string, Handler['process'], string][] = [
      ['not-array', () => ({}) as unknown as HandlerOutput[], 'process() must return an array'],
      ['number', () => [42 as unknown as HandlerOutput], 'neither an event nor a record'],
      ['null', () => [null as unknown as HandlerOutput], 'neither an event nor a record'],
      ['no-value', () => [{ key: 'k' } as unknown as HandlerOutput], 'neither an event nor a record'],
    ];
    for (const [name, process, message] of cases) {
      await assert.rejects(
        new HandlerChain([{ name, process }], createPassthrough()).run([changeEvent()], context),
        (error) => error instanceof HandlerError && error.handler === name && error.message.includes(message),
        name,
      );
    }
  });

  test('rejects records no sink can write, naming the handler and the event they came from', async () => {
    const header = (value: unknown) => ({ key: null, value: 'v', headers: { trace: value } });
    const cases: [string, unknown, string][] = [
      ['object value', { key: null, value: { a: 1 } }, 'its value is an object'],
      ['number value', { key: null, value: 42 }, 'its value is a number'],
      ['typed-array value', { key: null, value: new Uint8Array(2) }, 'its value is a Uint8Array'],
      ['missing key', { value: 'v' }, 'its key is missing'],
      ['array key', { key: ['k'], value: 'v' }, 'its key is an array'],
      ['empty topic', { topic: '', key: null, value: 'v' }, 'its topic is an empty string'],
      ['number topic', { topic: 7, key: null, value: 'v' }, 'its topic is a number'],
      ['string headers', { key: null, value: 'v', headers: 'trace' }, 'its headers are a string'],
      ['number header', header(1), 'its header "trace" is a number'],
      ['null header', header(null), 'its header "trace" is null'],
      ['array with an object', header(['a', {}]), 'its header "trace" is an array holding an object'],
      ['origin not an event', { key: null, value: 'v', origin: 'users' }, 'its origin is a string'],
    ];
    for (const [name, bad, message] of cases) {
      const events = [changeEvent({ id: 'good' }), changeEvent({ id: 'bad' })];
      const handler: Handler = {
        name,
        process: (batch) =>
          batch.map((e) => ((e as ChangeEvent).id === 'bad' ? (bad as SinkRecord) : record(name)(e))),
      };
      await assert.rejects(
        new HandlerChain([handler], createPassthrough()).run(events, context),
        (error) => {
          assert.ok(error instanceof HandlerError, name);
          assert.equal(error.handler, name);
          assert.equal(error.event, events[1], `${name}: names the event the record came from`);
          assert.ok(
            error.message.includes(`(id bad): process() returned a record no sink can write: ${message}`),
            `${name}: ${error.message}`,
          );
          return true;
        },
        name,
      );
    }
  });

  test('accepts every shape of record a sink can write', async () => {
    const good: SinkRecord[] = [
      { key: null, value: null },
      { key: 'k', value: Buffer.from('v'), topic: 't' },
      {
        key: Buffer.from('k'),
        value: 'v',
        headers: { a: 'x', b: Buffer.from('y'), c: ['x', Buffer.from('y')] },
      },
      { key: 'k', value: 'v', topic: undefined, headers: undefined, origin: undefined },
    ];
    const handler: Handler = { name: 'good', process: () => good };
    assert.deepEqual(
      await new HandlerChain([handler], createPassthrough()).run([changeEvent()], context),
      good,
    );
  });

  test('rejects events coming out of the final handler: a sink can only write records', async () => {
    const lazyEncoder: Handler = { name: 'lazy', process: (events) => events };
    await assert.rejects(
      new HandlerChain([], lazyEncoder).run([changeEvent()], context),
      /handler "lazy" failed on insert of public.users \(id .*\): the final handler returned an event/,
    );
  });

  test('close() closes every handler', async () => {
    const closed: string[] = [];
    const closing = (name: string): Handler => ({
      name,
      process: (e) => e,
      close: () => void closed.push(name),
    });
    await new HandlerChain([closing('x'), closing('y')], createPassthrough()).close();
    assert.deepEqual(closed, ['x', 'y']);
  });

  test('handlers get events read from messages as plain objects; without handlers the bytes are written', async () => {
    const bytes = Buffer.from(JSON.stringify(sampleEvent()));
    const read = createDecoder('pgrelay', 'edge')(sourceMessage(bytes));
    const spreading: Handler = {
      name: 'spread',
      process: (events) => events.map((event) => ({ ...event, table: 'copied' })),
    };
    const [copied] = await new HandlerChain([spreading], createPassthrough()).run([read], context);
    assert.deepEqual(JSON.parse(copied!.value as string), { ...sampleEvent(), table: 'copied' });
    const [untouched] = await new HandlerChain([], createPassthrough({ untouched: true })).run(
      [read],
      context,
    );
    assert.equal(untouched!.value, bytes);
  });
});
