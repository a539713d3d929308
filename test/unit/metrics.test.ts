import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import type { SourceBatch } from '../../src/core/batch.js';
import { Metrics } from '../../src/core/metrics.js';
import { Router } from '../../src/core/router.js';
import { Source } from '../../src/core/source.js';
import { capturedLogger } from '../helpers/log.js';
import { changeEvent, rawEvent } from '../helpers/events.js';

class IdleSource extends Source {
  constructor(name: string, metrics: Metrics, router: Router) {
    super(name, 'postgres', { log: capturedLogger().log, logLevel: 'info', metrics, router });
  }
  start(): void {}
  stopInput(): void {}
  stop(): Promise<void> {
    return Promise.resolve();
  }
}

const series = (text: string, name: string) => text.split('\n').filter((line) => line.startsWith(`${name}{`));

describe('metrics', () => {
  test('events per table, counted as the router hands batches out; raw messages have no table', async () => {
    const metrics = new Metrics();
    const router = new Router([], metrics);
    metrics.register(new IdleSource('db1', metrics, router));
    const batch: SourceBatch = {
      source: 'db1',
      events: [
        changeEvent({ table: 'users' }),
        changeEvent({ table: 'users' }),
        changeEvent({ schema: 'billing', table: 'invoices' }),
        rawEvent(),
        changeEvent({ table: 'users' }),
      ],
      bytes: 500,
      originTimeMs: Date.now(),
    };
    await router.dispatch(batch, () => undefined);
    await router.dispatch(
      { ...batch, events: [changeEvent({ schema: null, table: 'legacy' })] },
      () => undefined,
    );
    const text = await metrics.registry.metrics();
    assert.deepEqual(series(text, 'pgrelay_source_table_events_total').sort(), [
      'pgrelay_source_table_events_total{component="db1",role="source",type="postgres",table="billing.invoices"} 1',
      'pgrelay_source_table_events_total{component="db1",role="source",type="postgres",table="legacy"} 1',
      'pgrelay_source_table_events_total{component="db1",role="source",type="postgres",table="public.users"} 3',
    ]);
  });

  test('a component has a series for every state, 1 for the one it is in; up has no state label', async () => {
    const metrics = new Metrics();
    const source = new IdleSource('db1', metrics, new Router([], metrics));
    metrics.register(source);
    source.health.set('failed', new Error('gone'));
    const text = await metrics.registry.metrics();
    assert.deepEqual(series(text, 'pgrelay_component_state'), [
      'pgrelay_component_state{component="db1",role="source",type="postgres",state="starting"} 0',
      'pgrelay_component_state{component="db1",role="source",type="postgres",state="running"} 0',
      'pgrelay_component_state{component="db1",role="source",type="postgres",state="standby"} 0',
      'pgrelay_component_state{component="db1",role="source",type="postgres",state="retrying"} 0',
      'pgrelay_component_state{component="db1",role="source",type="postgres",state="failed"} 1',
      'pgrelay_component_state{component="db1",role="source",type="postgres",state="stopped"} 0',
    ]);
    assert.deepEqual(series(text, 'pgrelay_component_up'), [
      'pgrelay_component_up{component="db1",role="source",type="postgres"} 0',
    ]);
    // A standby (another instance streams the source) is up: healthy, waiting to take over.
    source.health.set('standby');
    assert.deepEqual(series(await metrics.registry.metrics(), 'pgrelay_component_up'), [
      'pgrelay_component_up{component="db1",role="source",type="postgres"} 1',
    ]);
    assert.match(text, /^pgrelay_build_info\{version="[^"]+",node="[^"]+"\} 1$/m);
  });
});
