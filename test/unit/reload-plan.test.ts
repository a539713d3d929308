import assert from 'node:assert/strict';
import os from 'node:os';
import path from 'node:path';
import { describe, test } from 'node:test';
import { parseConfig } from '../../src/runtime/config.js';
import { FAILED, isEmptyPlan, planReload } from '../../src/runtime/reload-plan.js';

/** A config file in the temporary directory (its state directory exists); [state] last, so top-level keys stay top-level. */
function config(body: string) {
  return parseConfig(`${body}\n[state]\npath = "state.db"\n`, path.join(os.tmpdir(), 'pgrelay.toml'), {});
}

const NOTHING_FAILED = { sources: new Set<string>(), sinks: new Set<string>() };

const BASE = `
[sources.db1]
type = "postgres"
dsn = "postgres://cdc:secret@db1/app"
tables = ["public.users"]

[sources.db2]
type = "postgres"
dsn = "postgres://cdc@db2/app"

[handlers.tag]
type = "enrich"
set = { env = "prod" }

[sinks.main]
type = "stub"
sources = ["db1"]
handlers = ["tag", "passthrough"]

[sinks.audit]
type = "stub"
sources = ["db2"]
`;

describe('planning a config reload', () => {
  test('the same file changes nothing', () => {
    const plan = planReload(config(BASE), config(BASE), NOTHING_FAILED);
    assert.ok(isEmptyPlan(plan));
    assert.deepEqual(plan.sources.unchanged, ['db1', 'db2']);
    assert.deepEqual(plan.sinks.unchanged, ['main', 'audit']);
  });

  test('components added, removed and changed; the others left alone', () => {
    const next = config(
      BASE.replace('tables = ["public.users"]', 'tables = ["public.users", "public.orders"]')
        .replace('[sources.db2]\ntype = "postgres"\ndsn = "postgres://cdc@db2/app"\n', '')
        .replace('[sinks.audit]\ntype = "stub"\nsources = ["db2"]\n', '') +
        '\n[sources.db3]\ntype = "postgres"\ndsn = "postgres://cdc@db3/app"\n' +
        '\n[sinks.archive]\ntype = "stub"\nsources = ["db3"]\n',
    );
    const plan = planReload(config(BASE), next, NOTHING_FAILED);
    assert.deepEqual(plan.sources, {
      added: ['db3'],
      removed: ['db2'],
      restarted: { db1: ['sources.db1.tables'] },
      unchanged: [],
      debug: {},
    });
    assert.deepEqual(plan.sinks, {
      added: ['archive'],
      removed: ['audit'],
      restarted: {},
      unchanged: ['main'],
      debug: {},
    });
  });

  test('a secret that changed restarts its component; the reason names the key, not the value', () => {
    const plan = planReload(
      config(BASE),
      config(BASE.replace('cdc:secret@', 'cdc:rotated@')),
      NOTHING_FAILED,
    );
    assert.deepEqual(plan.sources.restarted, { db1: ['sources.db1.dsn'] });
    assert.doesNotMatch(JSON.stringify(plan), /secret|rotated/);
  });

  test('a sink restarts when a handler it uses changed, or its wiring; its sources do not', () => {
    const handler = planReload(
      config(BASE),
      config(BASE.replace('set = { env = "prod" }', 'set = { env = "staging" }')),
      NOTHING_FAILED,
    );
    assert.deepEqual(handler.sinks.restarted, { main: ['handlers.tag.set.env'] });
    assert.deepEqual(handler.sinks.unchanged, ['audit'], 'audit does not use the handler');
    assert.deepEqual(handler.sources.unchanged, ['db1', 'db2']);

    const wiring = planReload(
      config(BASE),
      config(BASE.replace('sources = ["db1"]', 'sources = ["db1", "db2"]')),
      NOTHING_FAILED,
    );
    assert.deepEqual(wiring.sinks.restarted, { main: ['sinks.main.sources'] });
    assert.deepEqual(wiring.sources.unchanged, ['db1', 'db2']);

    const chain = planReload(
      config(BASE),
      config(BASE.replace('handlers = ["tag", "passthrough"]', 'handlers = ["passthrough"]')),
      NOTHING_FAILED,
    );
    assert.deepEqual(chain.sinks.restarted, { main: ['sinks.main.handlers'] });
  });

  test('debug alone is switched in place', () => {
    const plan = planReload(
      config(BASE),
      config(BASE.replace('[sinks.audit]\n', '[sinks.audit]\ndebug = true\n')),
      NOTHING_FAILED,
    );
    assert.deepEqual(plan.sinks.restarted, {});
    assert.deepEqual(plan.sinks.debug, { audit: true });
    assert.ok(!isEmptyPlan(plan));
  });

  test('a component that failed restarts although its config is the same', () => {
    const plan = planReload(config(BASE), config(BASE), {
      sources: new Set(['db2']),
      sinks: new Set(['main']),
    });
    assert.deepEqual(plan.sources.restarted, { db2: [FAILED] });
    assert.deepEqual(plan.sinks.restarted, { main: [FAILED] });
    assert.deepEqual(plan.sources.unchanged, ['db1']);
  });

  test('top-level keys: applied in place, except state.path, which is kept with both values', () => {
    const next = config(
      `shutdown_timeout = "5s"\nold_heap_growth = 0\nyoung_heap_limit = 0\n` +
        `[log]\nlevel = "debug"\n[http]\nlisten = "127.0.0.1:9999"\n${BASE}`,
    );
    const moved = parseConfig(
      `${BASE}\n[state]\npath = "other.db"\n`,
      path.join(os.tmpdir(), 'pgrelay.toml'),
      {},
    );
    const plan = planReload(config(BASE), next, NOTHING_FAILED);
    assert.deepEqual(plan.applied, [
      'http.listen',
      'log.level',
      'shutdown_timeout',
      'old_heap_growth',
      'young_heap_limit',
    ]);
    assert.deepEqual(plan.kept, []);
    const statePlan = planReload(config(BASE), moved, NOTHING_FAILED);
    assert.deepEqual(statePlan.kept, [
      {
        key: 'state.path',
        running: path.join(os.tmpdir(), 'state.db'),
        file: path.join(os.tmpdir(), 'other.db'),
      },
    ]);
    assert.deepEqual(statePlan.sources.unchanged, ['db1', 'db2']);
  });

  test('an exactly_once source and its sink restart together', () => {
    const relay = (sinkExtra: string, sourceExtra = '') => `
[sources.edge]
type = "kafka"
brokers = ["k1:9092"]
topics = ["in"]
group_id = "relay"
exactly_once = true
${sourceExtra}
[sinks.out]
type = "kafka"
sources = ["edge"]
brokers = ["k1:9092"]
topic_fallback = "out"
${sinkExtra}`;
    const sinkChanged = planReload(config(relay('')), config(relay('batch_size = 500')), NOTHING_FAILED);
    assert.deepEqual(sinkChanged.sinks.restarted, { out: ['sinks.out.batch_size'] });
    assert.deepEqual(sinkChanged.sources.restarted, { edge: ['its exactly_once sink restarts'] });
    const sourceChanged = planReload(
      config(relay('')),
      config(relay('', 'session_timeout = "20s"')),
      NOTHING_FAILED,
    );
    assert.deepEqual(sourceChanged.sources.restarted, { edge: ['sources.edge.session_timeout'] });
    assert.deepEqual(sourceChanged.sinks.restarted, { out: ['its exactly_once source edge restarts'] });
    assert.deepEqual(sourceChanged.sinks.unchanged, []);
  });
});
