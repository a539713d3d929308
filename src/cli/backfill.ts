import { setTimeout as sleep } from 'node:timers/promises';
import { ConfigError, PgRelayError, errorMessage } from '../core/errors.js';
import { SqlConditionError, checkCondition } from '../sources/postgres/snapshot/condition.js';
import { qualify } from '../sources/postgres/config.js';
import type { ProgressReport } from '../sources/postgres/snapshot/progress.js';
import { apiUrl } from './api.js';
import { CONFIG_HELP, type Command, configOption, loadCommandConfig } from './args.js';
import { requireSource } from './positions.js';

/** A running pgrelay's answer the command cannot act on (conflict, unreachable, failed backfill). */
class BackfillCommandError extends PgRelayError {
  constructor(message: string) {
    super('PGRELAY_BACKFILL_COMMAND', message);
  }
}

async function call(url: string, init?: RequestInit): Promise<Response> {
  try {
    return await fetch(url, init);
  } catch (error) {
    throw new BackfillCommandError(
      `no pgrelay answers at ${url} (${errorMessage((error as { cause?: unknown }).cause ?? error)}): is it running with this config?`,
    );
  }
}

/** Polls /status until the backfill `id` of `table` is done, printing its progress; throws when it failed. */
async function waitDone(api: string, source: string, table: string, id: string): Promise<ProgressReport> {
  let printed = '';
  for (;;) {
    const status = (await (await call(`${api}/status`)).json()) as {
      sources: Record<string, { backfill?: Record<string, ProgressReport> }>;
    };
    const progress = status.sources[source]?.backfill?.[qualify(table)];
    if (progress === undefined)
      throw new BackfillCommandError(`backfill ${id} is no longer running on ${source}`);
    if (progress.state === 'failed')
      throw new BackfillCommandError(`backfill ${id} failed: see pgrelay's log (source ${source})`);
    if (progress.state === 'done') return progress;
    const line = `${progress.rows_done} of ~${progress.rows_estimated ?? '?'} rows, ${progress.rows_per_second} rows/s`;
    if (line !== printed) process.stderr.write(`${table}: ${line}\n`);
    printed = line;
    await sleep(1000);
  }
}

const backfill: Command = {
  name: 'backfill',
  summary: 'read a table again while pgrelay streams (asks the running pgrelay)',
  usage: `Usage: pgrelay backfill [-c FILE] --source NAME --table TABLE [--where SQL] [--wait]

Asks the running pgrelay (at the [http] listen address of FILE) to read TABLE again beside the
stream, in chunks: its rows go out as events with action "snapshot", and a row never lands after a
newer change of its key. Prints the backfill's id. Progress: GET /status (sources.NAME.backfill).
One backfill per table at a time; the table must be in the source's publication and have a key.
When [http] sets a token, it is sent as the bearer token.

Options:
${CONFIG_HELP}
      --source NAME   a postgres source
      --table TABLE   "schema.table", or "table" (schema public)
      --where SQL     only rows meeting this SQL condition, e.g. "id > 1000" (one
                      condition: no ";", comments or unbalanced parentheses)
      --wait          wait until the backfill is done, printing its progress
  -h, --help          show this help`,
  options: {
    ...configOption,
    source: { type: 'string' },
    table: { type: 'string' },
    where: { type: 'string' },
    wait: { type: 'boolean' },
  },
  maxArguments: 0,
  async run(values) {
    const config = loadCommandConfig(values, []);
    const source = requireSource(config, values.source as string | undefined);
    const table = values.table as string | undefined;
    if (table === undefined || table === '') throw new ConfigError('--table TABLE is required');
    const where = values.where as string | undefined;
    if (where !== undefined) {
      try {
        checkCondition(where);
      } catch (error) {
        if (error instanceof SqlConditionError) throw new ConfigError(`--where: ${error.message}`);
        throw error;
      }
    }
    const api = apiUrl(config, 'backfill');
    const headers: Record<string, string> = { 'content-type': 'application/json' };
    if (config.http.token !== undefined) headers.authorization = `Bearer ${config.http.token}`;
    const response = await call(`${api}/sources/${encodeURIComponent(source)}/backfill`, {
      method: 'POST',
      headers,
      body: JSON.stringify({ table, where }),
    });
    const body = (await response.json()) as { id?: string; error?: string };
    if (response.status === 400 || response.status === 404 || response.status === 401)
      throw new ConfigError(body.error ?? response.statusText);
    if (response.status !== 202 || body.id === undefined)
      throw new BackfillCommandError(body.error ?? `pgrelay answered ${response.status}`);
    process.stdout.write(`${body.id}\n`);
    process.stderr.write(`backfill ${body.id} of ${table} on source ${source} started\n`);
    if (values.wait) {
      const done = await waitDone(api, source, table, body.id);
      process.stderr.write(`backfill ${body.id} of ${table} done: ${done.rows_done} rows\n`);
    }
    return 0;
  },
};

export const BACKFILL_COMMANDS: readonly Command[] = [backfill];
