import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { parseConfig } from '../../src/runtime/config.js';
import { TopicRouter } from '../../src/sinks/kafka/topics.js';
import { changeEvent } from '../helpers/events.js';

const STATE = '[state]\npath = "state.db"\n';
const postgres = (name: string, tables: string) =>
  `[sources.${name}]\ntype = "postgres"\ndsn = "postgres://cdc@${name}/app"\ntables = ${tables}\n`;
const kafka = (name: string, keys: string) =>
  `[sources.${name}]\ntype = "kafka"\nbrokers = ["k:9092"]\ngroup_id = "g"\n${keys}\n`;
const sink = (sources: string, map: string, extra = '') =>
  `[sinks.out]\ntype = "kafka"\nbrokers = ["k:9092"]\nsources = ${sources}\ntopic_map = ${map}\n${extra}`;
const load = (text: string) => parseConfig(STATE + text, 'pgrelay.toml', {});
const topicMap = (text: string) => {
  const out = load(text).sinks.out!;
  assert.equal(out.type, 'kafka');
  return out.type === 'kafka' ? out.topic_map : {};
};

describe('config: topic_map keys', () => {
  test('a bare table name means public.NAME, as in tables, and routes those rows', () => {
    const map = topicMap(postgres('db1', '["customers"]') + sink('["db1"]', '{ customers = "t1" }'));
    assert.deepEqual(map, { 'public.customers': 't1' });
    const router = new TopicRouter(map, {}, undefined);
    const event = changeEvent({ schema: 'public', table: 'customers' });
    assert.equal(router.topicFor({ key: null, value: null, origin: event }), 't1');
  });

  test('a key naming no table of the sink’s sources is an error naming key, sink, tables and the likely one', () => {
    assert.throws(
      () =>
        load(
          postgres('db1', '["public.customers"]') +
            postgres('db2', '["billing.invoices"]') +
            sink('["db1", "db2"]', '{ "public.customer" = "t1", "billing.invoices" = "t2" }'),
        ),
      {
        message:
          'pgrelay.toml: sinks.out.topic_map."public.customer": no source of sink "out" delivers "public.customer" (did you mean "public.customers"?); its sources deliver "public.customers", "billing.invoices"',
      },
    );
  });

  test('a table and its bare name mapped to two topics is an error; to one topic it is not', () => {
    assert.throws(
      () => load(postgres('db1', '["users"]') + sink('["db1"]', '{ users = "a", "public.users" = "b" }')),
      {
        message:
          /sinks\.out\.topic_map\."public\.users": maps "public\.users" again, to another topic than "users" does/,
      },
    );
    assert.deepEqual(
      topicMap(postgres('db1', '["users"]') + sink('["db1"]', '{ users = "a", "public.users" = "a" }')),
      {
        'public.users': 'a',
      },
    );
  });

  test('unchecked where the tables are known only at run time: "*", the publication, module handlers', () => {
    for (const tables of ['["*"]', '[]']) {
      assert.deepEqual(topicMap(postgres('db1', tables) + sink('["db1"]', '{ anything = "t" }')), {
        'public.anything': 't',
      });
    }
    const withModule =
      postgres('db1', '["users"]') +
      '[handlers.mine]\ntype = "module"\npath = "state.db"\n' +
      sink('["db1"]', '{ invented = "t" }', 'handlers = ["mine", "passthrough"]\n');
    // The module file does not exist: that is the only problem reported.
    assert.throws(() => load(withModule), {
      message: /^pgrelay\.toml: handlers\.mine\.path: no such file [^\n]*$/,
    });
  });

  test('Kafka sources: raw relays map source topics (and topic_pattern matches); other formats upstream tables', () => {
    const raw = kafka(
      'edge',
      'format = "raw"\ntopics = ["cdc.users", "users"]\ntopic_pattern = "^audit\\\\."',
    );
    assert.deepEqual(
      topicMap(raw + sink('["edge"]', '{ users = "a", "cdc.users" = "b", "audit.x" = "c" }')),
      {
        users: 'a',
        'cdc.users': 'b',
        'audit.x': 'c',
      },
    );
    assert.throws(() => load(raw + sink('["edge"]', '{ "billing.x" = "a" }')), {
      message:
        'pgrelay.toml: sinks.out.topic_map."billing.x": no source of sink "out" delivers "billing.x"; its sources deliver "cdc.users", "users" and topics matching /^audit\\./',
    });
    // psql-streamer events carry bare table names: kept as written, and not checked.
    const streamed = kafka('edge', 'format = "psql-streamer"\ntopics = ["cdc"]');
    assert.deepEqual(topicMap(streamed + sink('["edge"]', '{ users = "a" }')), { users: 'a' });
  });

  test('a sink fed by a postgres source and a raw relay takes a bare key both ways', () => {
    const text =
      postgres('db1', '["users"]') +
      kafka('edge', 'format = "raw"\ntopics = ["orders"]') +
      sink('["db1", "edge"]', '{ users = "a", orders = "b" }');
    assert.deepEqual(topicMap(text), { 'public.users': 'a', users: 'a', 'public.orders': 'b', orders: 'b' });
  });
});
