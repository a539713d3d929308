import assert from 'node:assert/strict';
import type { ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';
import { kafkaSource } from '../fixtures/configs.js';
import { type CdcFixture, cdcFixture, kafkaSink, postgresSource } from '../harness/cdc.js';
import { PgrelayProcess, ROOT } from '../harness/pgrelay.js';
import { freePort, startService, stopProcess, tempDir, waitFor } from '../harness/processes.js';
import { createTopics } from '../harness/topics.js';

const DASHBOARD = path.join(ROOT, 'packaging/contrib/grafana/pgrelay-dashboard.json');
const RULES = path.join(ROOT, 'packaging/contrib/prometheus/pgrelay-alerts.yml');

interface Panel {
  title: string;
  type: string;
  targets?: { expr: string }[];
}

/** The panel queries as Grafana sends them, its variables filled in. */
function panelQueries(): { title: string; expr: string }[] {
  const dashboard = JSON.parse(fs.readFileSync(DASHBOARD, 'utf8')) as { panels: Panel[] };
  return dashboard.panels.flatMap((panel) =>
    (panel.targets ?? []).map((target) => ({
      title: panel.title,
      expr: target.expr.replaceAll('$__rate_interval', '15s').replaceAll('$job', 'pgrelay'),
    })),
  );
}

describe('the shipped Grafana dashboard, on a real Prometheus scraping a running pgrelay', () => {
  let fx: CdcFixture;
  let relay: PgrelayProcess;
  let prometheus: ChildProcess;
  let api: string;
  let prometheusLog: string;

  before(async () => {
    fx = await cdcFixture('dashboard');
    await fx.sql(`
      CREATE TABLE users (id int PRIMARY KEY, name text);
      CREATE TABLE big (id int PRIMARY KEY, payload text);
      INSERT INTO big SELECT g, repeat('x', 100) FROM generate_series(1, 3000) g;
      ANALYZE big;`);
    const users = fx.topic('users');
    await createTopics(fx.brokers, [users], 1);
    // A postgres source with a snapshot, a Kafka sink that maps one table (the other's rows are
    // dropped as unmapped), and a Kafka source relaying that topic: every kind of series exists.
    relay = await PgrelayProcess.create(
      postgresSource('db1', fx, ['users', 'big'], 'snapshot = "initial"\nsnapshot_tables = ["big"]') +
        kafkaSink('main', fx, ['db1'], `topic_map = { users = "${users}" }`) +
        kafkaSource('edge', {
          brokers: fx.brokers,
          topics: [users],
          group_id: `${users}-group`,
          format: 'raw',
        }) +
        '\n[sinks.mirror]\ntype = "stub"\nsources = ["edge"]\n',
    );
    await relay.start();
    await fx.sql(`INSERT INTO users SELECT g, 'user ' || g FROM generate_series(1, 50) g`);

    const dir = tempDir('pgrelay-prometheus-');
    const port = await freePort();
    api = `http://127.0.0.1:${port}`;
    prometheusLog = path.join(dir, 'prometheus.log');
    fs.writeFileSync(
      path.join(dir, 'prometheus.yml'),
      [
        'global:',
        '  scrape_interval: 1s',
        '  evaluation_interval: 1s',
        'rule_files:',
        `  - ${RULES}`,
        'scrape_configs:',
        '  - job_name: pgrelay',
        '    static_configs:',
        `      - targets: ["127.0.0.1:${relay.httpPort}"]`,
        '',
      ].join('\n'),
    );
    prometheus = startService(
      'prometheus',
      'prometheus',
      [
        `--config.file=${path.join(dir, 'prometheus.yml')}`,
        `--storage.tsdb.path=${path.join(dir, 'data')}`,
        `--web.listen-address=127.0.0.1:${port}`,
      ],
      prometheusLog,
    );
    await waitFor(
      'Prometheus to be ready',
      async () => ((await fetch(`${api}/-/ready`)).ok ? true : undefined),
      60_000,
      prometheusLog,
    );
  });

  after(async () => {
    if (prometheus !== undefined) await stopProcess(prometheus, 'SIGTERM', 10_000);
    await relay?.destroy();
  });

  test('Prometheus scrapes pgrelay and evaluates every alert rule without error', async () => {
    await waitFor(
      'the pgrelay target to be up',
      async () => {
        const body = (await (await fetch(`${api}/api/v1/targets`)).json()) as {
          data: { activeTargets: { health: string; lastError: string }[] };
        };
        return body.data.activeTargets[0]?.health === 'up' ? true : undefined;
      },
      60_000,
      prometheusLog,
    );
    const rules = await waitFor(
      'every rule to be evaluated',
      async () => {
        const body = (await (await fetch(`${api}/api/v1/rules`)).json()) as {
          data: { groups: { rules: { name: string; health: string; lastError?: string }[] }[] };
        };
        const all = body.data.groups.flatMap((g) => g.rules);
        return all.length > 0 && all.every((r) => r.health !== 'unknown') ? all : undefined;
      },
      60_000,
      prometheusLog,
    );
    assert.deepEqual(
      rules.filter((r) => r.health !== 'ok').map((r) => `${r.name}: ${r.lastError}`),
      [],
    );
  });

  test('every panel query returns at least one series', async () => {
    const queries = panelQueries();
    assert.ok(queries.length >= 20, `only ${queries.length} panel queries`);
    for (const { title, expr } of queries) {
      await waitFor(
        `panel "${title}" (${expr}) to return a series`,
        async () => {
          const response = await fetch(`${api}/api/v1/query?query=${encodeURIComponent(expr)}`);
          const body = (await response.json()) as {
            status: string;
            error?: string;
            data?: { result: unknown[] };
          };
          if (body.status !== 'success') throw new Error(`Prometheus refused the query: ${body.error}`);
          return body.data!.result.length > 0 ? true : undefined;
        },
        60_000,
        relay.logFile,
      );
    }
  });
});
