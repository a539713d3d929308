import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import type { StatsReport, StatusReport } from '../../src/runtime/runtime.js';
import { sourceDatabase } from '../helpers/database.js';
import type { LogLine } from '../helpers/log.js';
import { type RunningRuntime, startRuntime } from '../helpers/runtime.js';
import { runCommand, waitFor } from '../harness/processes.js';

type Stats = { sources: Record<string, StatsReport>; sinks: Record<string, StatsReport> };

/** `promtool check metrics` on `text` (stdin): its exit code and complaints. */
async function promtool(text: string): Promise<{ code: number | null; output: string }> {
  const { code, stdout, stderr } = await runCommand('promtool', ['check', 'metrics'], {
    input: text,
    timeoutMs: 60_000,
  });
  return { code, output: stdout + stderr };
}

describe('HTTP API of a healthy pgrelay', () => {
  let db: Awaited<ReturnType<typeof sourceDatabase>>;
  let relay: RunningRuntime;
  let nextId = 1;
  /** Inserts `count` rows and waits until both sinks delivered them. */
  const insert = async (count: number) => {
    const before = relay.runtime.sinks.map((s) => s.stats.eventsOut);
    await db.insert(nextId, count);
    nextId += count;
    await waitFor(
      `${count} rows delivered`,
      () =>
        Promise.resolve(
          relay.runtime.sinks.every((s, i) => s.stats.eventsOut >= before[i]! + count) || undefined,
        ),
      30_000,
    );
  };
  const perEventLines = (component: string) =>
    relay.lines.filter(
      (l: LogLine) => l.component === component && (l.msg === 'delivered' || l.msg === 'received'),
    );

  before(async () => {
    db = await sourceDatabase('http');
    relay = await startRuntime(`${db.sourceToml('db1')}
[sinks.logged]
type = "stub"
mode = "log"
sources = ["db1"]

[sinks.quiet]
type = "stub"
sources = ["db1"]
`);
    await relay.until<StatusReport, true>('/status', (status) => (status === 200 ? true : undefined));
  });
  after(async () => {
    assert.equal(await relay.stop(), true, 'stopped cleanly');
    await db.dropSlot();
  });

  test('GET /health answers 200', async () => {
    const response = await relay.get('/health');
    assert.equal(response.status, 200);
    assert.deepEqual(await response.json(), { status: 'ok' });
  });

  test('GET /status reports every component running, with position and lag, and answers 200', async () => {
    await insert(3);
    const status = await relay.until<StatusReport, StatusReport>('/status', (code, body) =>
      code === 200 && body.sources.db1?.lag !== null ? body : undefined,
    );
    assert.equal(status.status, 'ok');
    assert.deepEqual(Object.keys(status.sources), ['db1']);
    assert.deepEqual(Object.keys(status.sinks), ['logged', 'quiet']);
    for (const report of [status.sources.db1!, status.sinks.logged!, status.sinks.quiet!]) {
      assert.equal(report.state, 'running');
      assert.equal(report.last_error, null);
      assert.ok(!Number.isNaN(Date.parse(report.since)));
    }
    const source = status.sources.db1!;
    assert.equal(source.type, 'postgres');
    assert.match(source.position ?? '', /^[0-9A-F]+\/[0-9A-F]+$/);
    assert.equal(typeof source.lag?.bytes, 'number');
    assert.equal(typeof source.lag?.seconds, 'number');
    assert.equal(source.slot, db.slot);
    assert.equal(status.sinks.logged!.type, 'stub');
  });

  test('GET /stats counts events, batches and bytes per source and sink', async () => {
    const before = (await (await relay.get('/stats')).json()) as Stats;
    await insert(5);
    const stats = (await (await relay.get('/stats')).json()) as Stats;
    const grew = (report: StatsReport, was: StatsReport, key: keyof StatsReport) =>
      (report[key] as number) - (was[key] as number);
    const source = stats.sources.db1!;
    assert.equal(grew(source, before.sources.db1!, 'events_in'), 5);
    assert.equal(grew(source, before.sources.db1!, 'events_out'), 5, 'acknowledged by both sinks');
    assert.ok(grew(source, before.sources.db1!, 'bytes') > 0);
    for (const name of ['logged', 'quiet']) {
      const sink = stats.sinks[name]!;
      assert.equal(grew(sink, before.sinks[name]!, 'events_in'), 5, name);
      assert.equal(grew(sink, before.sinks[name]!, 'events_out'), 5, name);
      assert.ok(grew(sink, before.sinks[name]!, 'batches') >= 1, name);
      assert.ok(grew(sink, before.sinks[name]!, 'bytes') > 0, name);
      assert.equal(sink.errors, 0, name);
      assert.deepEqual(sink.dropped, {}, name);
    }
  });

  test('POST /debug/on?component=NAME switches per-event logging for that component only', async () => {
    await insert(1);
    assert.deepEqual(perEventLines('logged'), [], 'no per-event lines before debug is on');

    const on = await relay.get('/debug/on?component=logged', { method: 'POST' });
    assert.equal(on.status, 200);
    assert.deepEqual(await on.json(), { debug: true, components: ['logged'] });
    await insert(2);
    assert.equal(perEventLines('logged').length, 2);
    assert.deepEqual(perEventLines('quiet'), []);
    assert.deepEqual(perEventLines('db1'), []);
    const status = (await (await relay.get('/status')).json()) as StatusReport;
    assert.deepEqual(
      [status.sinks.logged!.debug, status.sinks.quiet!.debug, status.sources.db1!.debug],
      [true, false, false],
    );

    const off = await relay.get('/debug/off?component=logged', { method: 'POST' });
    assert.deepEqual(await off.json(), { debug: false, components: ['logged'] });
    await insert(2);
    assert.equal(perEventLines('logged').length, 2, 'no new lines once debug is off');
  });

  test('GET /debug/on without a component switches all of them (GET as in psql-streamer)', async () => {
    const on = await relay.get('/debug/on');
    assert.equal(on.status, 200);
    assert.deepEqual(await on.json(), { debug: true, components: ['db1', 'logged', 'quiet'] });
    const counts = () => ['db1', 'logged', 'quiet'].map((c) => perEventLines(c).length);
    const was = counts();
    await insert(3);
    assert.deepEqual(
      counts().map((n, i) => n - was[i]!),
      [3, 3, 3],
      'the source logs each event received, each sink each event delivered',
    );
    const received = relay.lines.findLast((l) => l.component === 'db1' && l.msg === 'received');
    assert.equal((received?.event as { table?: string } | undefined)?.table, 't');

    const off = await relay.get('/debug/off');
    assert.deepEqual(await off.json(), { debug: false, components: ['db1', 'logged', 'quiet'] });
    const after = counts();
    await insert(1);
    assert.deepEqual(counts(), after);
  });

  test('/debug with an unknown component answers 404 and switches nothing', async () => {
    for (const method of ['GET', 'POST']) {
      const response = await relay.get('/debug/on?component=nope', { method });
      assert.equal(response.status, 404);
      assert.deepEqual(await response.json(), { error: 'no source or sink is named "nope"' });
    }
    assert.ok(relay.runtime.components().every((c) => !c.debug));
  });

  test('GET /metrics is Prometheus text with process and pgrelay metrics that promtool accepts', async () => {
    await insert(2);
    const response = await relay.get('/metrics');
    assert.equal(response.status, 200);
    assert.match(response.headers.get('content-type') ?? '', /^text\/plain; version=0\.0\.4/);
    const text = await response.text();
    const sample = (series: string) => {
      const line = text.split('\n').find((l) => l.startsWith(`${series} `));
      assert.ok(line, `${series} missing from /metrics`);
      return Number(line.slice(series.length + 1));
    };
    assert.ok(sample('process_cpu_user_seconds_total') > 0);
    assert.ok(sample('nodejs_heap_size_used_bytes') > 0);
    const stats = (await (await relay.get('/stats')).json()) as Stats;
    assert.equal(
      sample('pgrelay_events_in_total{component="db1",role="source",type="postgres"}'),
      stats.sources.db1!.events_in,
    );
    assert.equal(
      sample('pgrelay_events_out_total{component="logged",role="sink",type="stub"}'),
      stats.sinks.logged!.events_out,
    );
    assert.equal(sample('pgrelay_errors_total{component="quiet",role="sink",type="stub"}'), 0);
    assert.equal(
      sample('pgrelay_component_up{component="db1",role="source",type="postgres",state="running"}'),
      1,
    );
    assert.ok(sample('pgrelay_sink_batch_events_count{sink="logged",type="stub"}') >= 1);
    assert.ok(sample('pgrelay_end_to_end_latency_seconds_count{sink="quiet",type="stub"}') >= 1);
    assert.ok(sample('pgrelay_sink_batch_duration_seconds_bucket{le="+Inf",sink="logged",type="stub"}') >= 1);
    assert.equal(typeof sample('pgrelay_source_lag_bytes{source="db1",type="postgres"}'), 'number');

    const check = await promtool(text);
    assert.equal(check.code, 0, check.output);
  });
});
