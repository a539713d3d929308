import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { parseConfig } from '../../src/runtime/config.js';

const config = (keys: string) =>
  '[state]\npath = "state.db"\n' +
  `[sources.edge]\ntype = "kafka"\nbrokers = ["k1:9092"]\ntopics = ["in"]\ngroup_id = "g"\n${keys}\n` +
  '[sinks.central]\ntype = "kafka"\nbrokers = ["k1:9092"]\nsources = ["edge"]\ntopic_fallback = "out"\n';
const load = (keys: string) => parseConfig(config(keys), 'pgrelay.toml', {});
/** The problems naming transaction_timeout a config is refused with. */
const problems = (keys: string): string[] => {
  try {
    load(keys);
  } catch (error) {
    return (error as Error).message.split('\n').filter((line) => line.includes('transaction_timeout'));
  }
  return [];
};

describe('config: transaction_timeout of an exactly_once relay', () => {
  test('a duration from 1s to 15m is taken; unset, it is 15s, filled in so check-config prints it', () => {
    const edge = load('exactly_once = true\ntransaction_timeout = "2m"').sources.edge!;
    assert.ok(edge.type === 'kafka' && edge.transaction_timeout === 120_000);
    const unset = load('exactly_once = true').sources.edge!;
    assert.ok(unset.type === 'kafka' && unset.transaction_timeout === 15_000);
    const atLeastOnce = load('').sources.edge!;
    assert.ok(atLeastOnce.type === 'kafka' && atLeastOnce.transaction_timeout === undefined);
  });

  test('out of range, or not a duration, is refused naming the key', () => {
    assert.deepEqual(problems('exactly_once = true\ntransaction_timeout = "500ms"'), [
      'pgrelay.toml: sources.edge.transaction_timeout: must be from 1s to 15m (500 ms): a delivery must commit within it, and brokers refuse more than their transaction.max.timeout.ms (15m by default)',
    ]);
    assert.equal(problems('exactly_once = true\ntransaction_timeout = "1h"').length, 1);
    assert.match(
      problems('exactly_once = true\ntransaction_timeout = "soon"')[0] ?? '',
      /sources\.edge\.transaction_timeout: /,
    );
  });

  test('without exactly_once it is refused: it would do nothing', () => {
    assert.deepEqual(problems('transaction_timeout = "30s"'), [
      'pgrelay.toml: sources.edge.transaction_timeout: has an effect only with exactly_once = true: remove it, or set exactly_once',
    ]);
  });
});
