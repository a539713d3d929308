import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { parseConfig } from '../../src/runtime/config.js';

const config = (keys = '') =>
  '[state]\npath = "state.db"\n' +
  `[sources.edge]\ntype = "kafka"\nbrokers = ["k1:9092"]\ntopics = ["in"]\ngroup_id = "g"\n${keys}\n` +
  '[sinks.central]\ntype = "kafka"\nbrokers = ["k1:9092"]\nsources = ["edge"]\ntopic_fallback = "out"\n';
const interval = (keys: string) => {
  const edge = parseConfig(config(keys), 'pgrelay.toml', {}).sources.edge!;
  assert.ok(edge.type === 'kafka');
  return edge.commit_interval;
};
const refusal = (keys: string): string => {
  try {
    parseConfig(config(keys), 'pgrelay.toml', {});
  } catch (error) {
    return (error as Error).message;
  }
  return assert.fail('the config was accepted');
};

describe('config: a Kafka source commit_interval', () => {
  test('is a duration; unset, it is 100 ms, filled in so check-config prints it', () => {
    assert.equal(interval(''), 100);
    assert.equal(interval('commit_interval = "250ms"'), 250);
    assert.equal(interval('commit_interval = "2s"'), 2000);
    assert.equal(interval('commit_interval = 0'), 0);
  });

  test('exactly once, the config has none: offsets go in each transaction', () => {
    assert.equal(interval('exactly_once = true'), undefined);
  });

  test('is refused with exactly_once, naming the key and why', () => {
    assert.match(
      refusal('exactly_once = true\ncommit_interval = "1s"'),
      /pgrelay\.toml: sources\.edge\.commit_interval: has no effect with exactly_once = true, where each delivery commits its offsets in its transaction: remove it/,
    );
  });

  test('that is not a duration is refused, naming the key', () => {
    assert.match(refusal('commit_interval = "often"'), /sources\.edge\.commit_interval/);
  });
});
