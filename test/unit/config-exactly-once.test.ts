import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { parseConfig } from '../../src/runtime/config.js';

const STATE = '[state]\npath = "state.db"\n';
const source = (keys = '') =>
  `[sources.edge]\ntype = "kafka"\nbrokers = ["k1:9092", "k2:9092"]\ntopics = ["in"]\ngroup_id = "g"\nexactly_once = true\n${keys}\n`;
const kafkaSink = (name: string, keys = '', sources = '["edge"]') =>
  `[sinks.${name}]\ntype = "kafka"\nbrokers = ["k2:9092"]\nsources = ${sources}\ntopic_fallback = "out"\n${keys}\n`;
const load = (text: string) => parseConfig(STATE + text, 'pgrelay.toml', {});
/** The problems a config is refused with, one per line. */
const problems = (text: string): string[] => {
  try {
    load(text);
  } catch (error) {
    return (error as Error).message.split('\n').filter((line) => line.includes('exactly_once'));
  }
  return [];
};

describe('config: exactly_once', () => {
  test('a Kafka source feeding one Kafka sink on its cluster is accepted; the key defaults to false', () => {
    const config = load(source() + kafkaSink('central'));
    const edge = config.sources.edge!;
    assert.ok(edge.type === 'kafka' && edge.exactly_once);
    const plain = load(source().replace('exactly_once = true\n', '') + kafkaSink('central'));
    const plainEdge = plain.sources.edge!;
    assert.ok(plainEdge.type === 'kafka' && !plainEdge.exactly_once);
  });

  test('a sink on another cluster is refused, naming both broker lists', () => {
    assert.deepEqual(problems(source() + kafkaSink('central').replace('k2:9092', 'other:9092')), [
      'pgrelay.toml: sources.edge.exactly_once: exactly once needs the sink on the source\'s cluster: sink "central" names brokers other:9092, the source k1:9092, k2:9092 (a transaction cannot span clusters)',
    ]);
  });

  test('a stub sink is refused', () => {
    assert.deepEqual(problems(source() + '[sinks.stub]\ntype = "stub"\nsources = ["edge"]\n'), [
      'pgrelay.toml: sources.edge.exactly_once: exactly once needs a Kafka sink: sink "stub" is a stub sink, which takes no part in Kafka transactions',
    ]);
  });

  test('two sinks reading the source are refused', () => {
    assert.deepEqual(problems(source() + kafkaSink('a') + kafkaSink('b')), [
      'pgrelay.toml: sources.edge.exactly_once: exactly once needs exactly one sink reading this source (2 do: "a", "b"): one transaction commits one sink\'s output with the offsets',
    ]);
  });

  test('dead letters, of the source or of the sink, are refused', () => {
    assert.deepEqual(
      problems(source('dead_letter_topic = "dlq"') + kafkaSink('central', 'dead_letter_topic = "dlq"')),
      [
        'pgrelay.toml: sources.edge.exactly_once: exactly once cannot cover dead letters: they are written outside the transaction (remove dead_letter_topic; undecodable messages are then logged and skipped)',
        'pgrelay.toml: sources.edge.exactly_once: exactly once cannot cover sink "central"\'s dead letters (dead_letter_topic): they are written outside the transaction',
      ],
    );
  });

  test('acks other than "all", and a sink reading other sources too, are refused', () => {
    const other = '[sources.db]\ntype = "postgres"\ndsn = "postgres://cdc@db/app"\ntables = ["t"]\n';
    assert.deepEqual(problems(other + source() + kafkaSink('central', 'acks = "leader"', '["edge", "db"]')), [
      'pgrelay.toml: sources.edge.exactly_once: exactly once needs sink "central" to read this source alone: it also reads db',
      'pgrelay.toml: sources.edge.exactly_once: exactly once needs acks = "all" on sink "central" (transactional producing is idempotent)',
    ]);
  });
});
