import assert from 'node:assert/strict';
import fs from 'node:fs';
import type { CdcFixture } from '../harness/cdc.js';
import type { PgrelayProcess, StatusBody } from '../harness/pgrelay.js';
import { literalPattern, waitFor } from '../harness/processes.js';

export interface ReportedProblem {
  code: string;
  message: string;
  items: string[];
}

/** What /status says a source's problems are, with its HTTP status. */
export async function sourceProblems(
  relay: PgrelayProcess,
  source: string,
): Promise<{ http: number; body: StatusBody; problems: ReportedProblem[] }> {
  const response = await relay.get('/status');
  const body = (await response.json()) as StatusBody;
  const problems = (body.sources[source]?.problems ?? []) as ReportedProblem[];
  return { http: response.status, body, problems };
}

/** Waits until the source reports the problem `code` (while running), and /status answers 503. */
export async function waitForProblem(
  relay: PgrelayProcess,
  source: string,
  code: string,
  accept: (problem: ReportedProblem) => boolean = () => true,
): Promise<ReportedProblem> {
  const problem = await waitFor(
    `source ${source} to report ${code}`,
    async () => {
      const { body, problems } = await sourceProblems(relay, source);
      if (body.sources[source]?.state !== 'running') return undefined;
      return problems.find((p) => p.code === code && accept(p));
    },
    60_000,
    relay.logFile,
  );
  const { http, body } = await sourceProblems(relay, source);
  assert.equal(http, 503, 'a problem makes /status answer 503');
  assert.equal(body.sources[source]!.state, 'running', 'the source keeps streaming what it can');
  return problem;
}

/** Waits until every component runs and no source reports a problem: /status 200. */
export async function waitForHealthy(relay: PgrelayProcess): Promise<void> {
  await waitFor(
    'pgrelay to answer /status with 200',
    async () => ((await relay.get('/status')).status === 200 ? true : undefined),
    60_000,
    relay.logFile,
  );
}

/** A postgres source's gauge from /metrics. */
export function sourceGauge(relay: PgrelayProcess, name: string, source: string): Promise<number> {
  return relay.metric(`${name}{component="${source}",role="source",type="postgres"}`);
}

/** The tables a publication publishes, as pg_publication_tables lists them. */
export async function publishedTables(fx: CdcFixture, publication: string): Promise<string[]> {
  const rows = await fx.sql<{ name: string }>(
    `SELECT schemaname || '.' || tablename AS name FROM pg_publication_tables WHERE pubname = $1 ORDER BY 1`,
    [publication],
  );
  return rows.map((r) => r.name);
}

/**
 * Sink keys sending each table's events to the fixture's topic of its name (routes, not topic_map:
 * check-config refuses topic_map keys for tables the sources do not list, and tests add them later).
 */
export function topicPerTable(fx: CdcFixture, tables: readonly string[]): string {
  const routes = tables.map((t) => `"^public\\\\.${t}$" = "${fx.topic(t)}"`);
  return `topic_routes = { ${routes.join(', ')} }`;
}

/** The `msg` of every line pgrelay logged so far. */
export function logMessages(relay: PgrelayProcess): string[] {
  return relay
    .log()
    .split('\n')
    .filter((line) => line.startsWith('{'))
    .map((line) => (JSON.parse(line) as { msg: string }).msg);
}

/** Asserts that pgrelay logged a line whose message matches `pattern`. */
export function assertLogged(relay: PgrelayProcess, pattern: RegExp): void {
  const messages = logMessages(relay);
  assert.ok(
    messages.some((m) => pattern.test(m)),
    `a log line matching ${pattern} (logged: ${messages.join(' | ')})`,
  );
}

/** Edits the config file of a (stopped) pgrelay: `from` must occur in it. */
export function editConfig(relay: PgrelayProcess, from: string | RegExp, to: string): void {
  const text = fs.readFileSync(relay.configFile, 'utf8');
  assert.match(text, typeof from === 'string' ? new RegExp(literalPattern(from)) : from);
  fs.writeFileSync(relay.configFile, text.replace(from, to));
}
