import assert from 'node:assert/strict';
import { describe, mock, test } from 'node:test';
import { Metrics } from '../../src/core/metrics.js';
import { createLogger } from '../../src/core/log.js';
import { ProgressBoard, TableProgress } from '../../src/sources/postgres/snapshot/progress.js';
import { capturedLogger } from '../helpers/log.js';

describe('snapshot progress', () => {
  test('rate counts the rows done since this process started on the table; ETA from the estimate', () => {
    const progress = new TableProgress('snapshot', 'public.users', 1000);
    assert.equal(progress.rate(), 0);
    assert.equal(progress.eta(), null);
    progress.start(21_000, 10_000);
    progress.rowsDone = 6000;
    assert.equal(progress.rate(12_000), 2500);
    assert.equal(progress.eta(12_000), 6);
    assert.deepEqual(progress.report(12_000), {
      state: 'running',
      rows_done: 6000,
      rows_estimated: 21_000,
      rows_per_second: 2500,
      eta_seconds: 6,
    });
    assert.match(
      progress.describe(12_000),
      /^snapshot of public\.users: 6,000 of ~21,000 rows \(28%\), 2,500 rows\/s, about 6 s left$/,
    );
    progress.rowsDone = 1_234_567;
    assert.match(
      progress.describe(12_000),
      /^snapshot of public\.users: 1,234,567 of ~21,000 rows \(100%\), 616,784 rows\/s/,
    );
    progress.finish('done');
    assert.equal(progress.eta(12_000), 0);
  });

  test('a board reports per kind and table, and its gauges reach /metrics with the component and table', async () => {
    const metrics = new Metrics();
    const log = createLogger('error');
    const board = new ProgressBoard('db1', log, metrics);
    new ProgressBoard('db2', log, metrics).add(new TableProgress('backfill', 'public.b', 5, { id: 'x' }));
    board.add(new TableProgress('snapshot', 'public.a', 0)).start(100);
    board.add(
      TableProgress.of('snapshot', {
        run: 'initial',
        table: 'public.a',
        mode: 'initial',
        lsn: '0/1',
        where: null,
        cursor: ['7'],
        rowsDone: 7,
        state: 'running',
        startedAt: '2026-11-20T09:00:00.123Z',
      }),
    );
    assert.deepEqual(Object.keys(board.report('snapshot') ?? {}), ['public.a']);
    assert.equal(board.report('snapshot')!['public.a']!.rows_done, 7);
    assert.equal(
      board.report('snapshot')!['public.a']!.state,
      'pending',
      'interrupted: pending until read again',
    );
    assert.equal(board.report('backfill'), undefined);
    const text = await metrics.registry.metrics();
    assert.match(
      text,
      /^pgrelay_snapshot_rows_done\{component="db1",role="source",type="postgres",table="public.a",kind="snapshot"\} 7$/m,
    );
    assert.match(
      text,
      /^pgrelay_snapshot_rows_done\{component="db2",role="source",type="postgres",table="public.b",kind="backfill"\} 5$/m,
    );
    assert.match(text, /^# TYPE pgrelay_snapshot_rows_per_second gauge$/m);
    board.close();
    assert.doesNotMatch(
      await metrics.registry.metrics(),
      /component="db1"/,
      'a closed board (its source stopped, or a reload replaced it) has no series left',
    );
  });

  test('logs each running table every 10 s, and stops logging once nothing runs', () => {
    mock.timers.enable({ apis: ['setInterval', 'Date'], now: 0 });
    try {
      const { log, lines } = capturedLogger();
      const board = new ProgressBoard('db1', log, new Metrics());
      const running = board.add(new TableProgress('snapshot', 'public.a', 0));
      running.start(1000);
      board.add(new TableProgress('backfill', 'public.b', 0)).finish('done');
      running.rowsDone = 500;
      mock.timers.tick(10_000);
      assert.deepEqual(
        lines.map((l) => l.msg),
        ['snapshot of public.a: 500 of ~1,000 rows (50%), 50 rows/s, about 10 s left'],
      );
      running.finish('done');
      mock.timers.tick(20_000);
      assert.equal(lines.length, 1);
    } finally {
      mock.timers.reset();
    }
  });
});
