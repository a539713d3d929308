import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import type { StatusReport } from '../../src/runtime/runtime.js';
import { lsnToBigInt } from '../../src/core/lsn.js';
import { freePort } from '../harness/processes.js';
import { sourceDatabase } from '../helpers/database.js';
import { startRuntime } from '../helpers/runtime.js';

const STUB_SINK = `
[sinks.out]
type = "stub"
sources = ["db1"]
`;

/** Waits until /status answers 503 with `component` in `state`, and returns the report. */
const degraded =
  (state: string, role: 'sources' | 'sinks', name: string) => (code: number, body: StatusReport) =>
    code === 503 && body[role][name]?.state === state ? body : undefined;

describe('GET /status of an unhealthy pgrelay answers 503', () => {
  test('a source that cannot connect is retrying, with its error', async () => {
    const closed = await freePort();
    const relay = await startRuntime(`
[sources.db1]
type = "postgres"
dsn = "postgres://pgrelay@127.0.0.1:${closed}/app"
retry_initial = "50ms"
retry_max = "200ms"
${STUB_SINK}`);
    try {
      const status = await relay.until('/status', degraded('retrying', 'sources', 'db1'));
      assert.equal(status.status, 'degraded');
      assert.equal(status.sources.db1!.last_error?.code, 'PGRELAY_PG_UNAVAILABLE');
      assert.match(
        status.sources.db1!.last_error?.message ?? '',
        new RegExp(`ECONNREFUSED 127\\.0\\.0\\.1:${closed}`),
      );
      assert.equal(status.sinks.out!.state, 'running', 'the sink is fine');

      assert.equal((await relay.get('/health')).status, 200, 'the process itself is healthy');
      const metrics = await (await relay.get('/metrics')).text();
      assert.match(metrics, /^pgrelay_component_up\{component="db1",role="source",type="postgres"\} 0$/m);
      // Every state has its series, so alerts and graphs see no series appear or vanish.
      for (const [state, value] of Object.entries({
        starting: 0,
        running: 0,
        retrying: 1,
        failed: 0,
        stopped: 0,
      })) {
        assert.match(
          metrics,
          new RegExp(
            `^pgrelay_component_state\\{component="db1",role="source",type="postgres",state="${state}"\\} ${value}$`,
            'm',
          ),
        );
      }
      const stats = (await (await relay.get('/stats')).json()) as { sources: { db1: { errors: number } } };
      assert.ok(stats.sources.db1.errors >= 1, 'each failed attempt counts');
    } finally {
      assert.equal(await relay.stop(), true, 'a retrying source stops at once');
    }
    assert.equal(relay.runtime.sources[0]!.health.state, 'stopped');
  });

  test('a sink whose handler fails is failed, with a named error, and holds the position', async () => {
    const db = await sourceDatabase('failing');
    const relay = await startRuntime(
      `shutdown_timeout = "1s"
${db.sourceToml('db1')}
[handlers.boom]
type = "module"
path = "boom.mjs"
[sinks.out]
type = "stub"
sources = ["db1"]
handlers = ["boom"]
`,
      {
        'boom.mjs':
          "export function createHandler() {\n  return { process() { throw new Error('kaboom'); } };\n}\n",
      },
    );
    try {
      await relay.until('/status', (code) => (code === 200 ? true : undefined));
      await db.insert(1);
      const status = await relay.until('/status', degraded('failed', 'sinks', 'out'));
      const error = status.sinks.out!.last_error!;
      assert.equal(error.code, 'PGRELAY_HANDLER');
      assert.equal(error.config_key, 'handlers.boom');
      const match =
        /^handler "boom" failed on insert of public\.t \(id ([0-9A-F]+\/[0-9A-F]+):0\): kaboom; fix handlers\.boom \(fix the handler, or set sinks\.out\.dead_letter_topic to set such events aside\)$/.exec(
          error.message,
        );
      assert.ok(match, error.message);
      assert.equal(status.sources.db1!.state, 'running');
      const position = status.sources.db1!.position;
      assert.ok(
        position !== null && lsnToBigInt(position) < lsnToBigInt(match[1]!),
        `${position} passed the failed transaction`,
      );
    } finally {
      assert.equal(await relay.stop(), false, 'the undelivered row is left for after a restart');
      await db.dropSlot();
    }
  });
});
