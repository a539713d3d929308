import type { ChangeEvent } from '../../src/core/event.js';
import { parseEvents } from '../harness/cdc.js';
import { readTopic } from '../harness/kcat.js';
import { waitFor } from '../harness/processes.js';
import type { PgrelayProcess } from '../harness/pgrelay.js';
import { ReconnectingClient } from './reconnecting-client.js';

/** Columns of a churned table as events carry them, selected in the event format. */
export const ITEM_COLUMNS = `id, version, payload,
  to_char(updated_at AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"') AS updated_at`;

export const ITEMS_TABLE = `(id int PRIMARY KEY, version int NOT NULL, payload text, updated_at timestamptz NOT NULL)`;

/** `count` rows 1..count of an items table. */
export function itemRows(table: string, count: number): string {
  return `INSERT INTO ${table} SELECT g, 1, md5(g::text), now() FROM generate_series(1, ${count}) g`;
}

/**
 * Small transactions against an items table until stopped, on their own connection: updates of
 * random rows (version + 1), inserts of new ids (never reused), deletes. `extra` runs too, each turn.
 * The load goes on through server restarts (a statement cut off by one may or may not have committed).
 */
export function churn(dsn: string, table: string, firstNewId: number, extra?: string) {
  let running = true;
  let changes = 0;
  let nextId = firstNewId;
  const client = new ReconnectingClient(dsn);
  const loop = (async () => {
    while (running) {
      const roll = Math.random();
      const id = 1 + Math.floor(Math.random() * (nextId - 1));
      let done: unknown;
      if (roll < 0.6) {
        done = await client.query(
          `UPDATE ${table} SET version = version + 1, payload = md5(random()::text), updated_at = now() WHERE id = $1`,
          [id],
        );
      } else if (roll < 0.8) {
        done = await client.query(`INSERT INTO ${table} VALUES ($1, 1, 'new', now())`, [nextId++]);
      } else {
        done = await client.query(`DELETE FROM ${table} WHERE id = $1`, [id]);
      }
      if (extra !== undefined) await client.query(extra);
      if (done !== undefined) changes++;
    }
    await client.end();
  })();
  return {
    get changes() {
      return changes;
    },
    async stop(): Promise<number> {
      running = false;
      await loop;
      return changes;
    },
  };
}

/** Waits until the source delivered everything the server wrote so far. */
export async function caughtUp(
  relay: PgrelayProcess,
  sql: (text: string) => Promise<Record<string, unknown>[]>,
) {
  const [{ lsn }] = (await sql('SELECT pg_current_wal_lsn()::text AS lsn')) as [{ lsn: string }];
  const target = lsnValue(lsn);
  await waitFor(
    `the source to deliver up to ${lsn}`,
    async () => {
      const position = (await relay.status()).sources.db?.position;
      return position && lsnValue(position) >= target ? true : undefined;
    },
    120_000,
    relay.logFile,
  );
}

function lsnValue(text: string): bigint {
  const [high, low] = text.split('/');
  return (BigInt(`0x${high}`) << 32n) | BigInt(`0x${low}`);
}

/** Every event of a topic (read by kcat) in order, and the last one per key. */
export async function lastPerKey(brokers: string[], topic: string) {
  const events = parseEvents(await readTopic(brokers, topic));
  const last = new Map<string, ChangeEvent>();
  for (const event of events) last.set(JSON.stringify(event.key), event);
  return { events, last };
}

/**
 * The differences between the last event per key and the table's rows (as selected): a row whose
 * last event is not its current state, a key whose last event is not a delete although the row is gone.
 */
export function differences(
  last: ReadonlyMap<string, ChangeEvent>,
  rows: readonly Record<string, unknown>[],
) {
  const problems: string[] = [];
  const present = new Set<string>();
  for (const row of rows) {
    const key = JSON.stringify({ id: row.id });
    present.add(key);
    const event = last.get(key);
    if (event === undefined) problems.push(`row ${key}: no event`);
    else if (event.action === 'delete') problems.push(`row ${key}: last event is a delete`);
    else if (JSON.stringify(event.columns) !== JSON.stringify(row))
      problems.push(
        `row ${key}: last event ${event.action} ${JSON.stringify(event.columns)} != ${JSON.stringify(row)}`,
      );
  }
  for (const [key, event] of last) {
    if (!present.has(key) && event.action !== 'delete')
      problems.push(`key ${key}: gone, last event ${event.action}`);
  }
  return problems;
}
