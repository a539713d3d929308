import assert from 'node:assert/strict';
import type { ChangeEvent } from '../../src/core/event.js';
import { type CdcFixture, cdcFixture, kafkaSink } from '../harness/cdc.js';
import { PgrelayProcess } from '../harness/pgrelay.js';
import { standbySource } from '../harness/standby.js';
import { ITEMS_TABLE, itemRows } from './churn.js';

/**
 * A fresh database with table items holding `rows` rows, and two instances (relay_0, relay_1) of
 * standby source `db` reading it into the Kafka topic items, not started.
 */
export async function standbyOnItems(
  prefix: string,
  rows: number,
  source: { extra: string; interval?: string; retryInitial?: string },
): Promise<{ fx: CdcFixture; relays: [PgrelayProcess, PgrelayProcess] }> {
  const fx = await cdcFixture(prefix);
  await fx.sql(`CREATE TABLE items ${ITEMS_TABLE}`);
  await fx.sql(itemRows('items', rows));
  const sink = kafkaSink('out', fx, ['db'], `topic_fallback = "${fx.topic('items')}"`);
  const relays: [PgrelayProcess, PgrelayProcess] = [
    await PgrelayProcess.create(standbySource(fx, ['items'], 'relay_0', source) + sink),
    await PgrelayProcess.create(standbySource(fx, ['items'], 'relay_1', source) + sink),
  ];
  return { fx, relays };
}

/** The snapshot's or a backfill's progress on public.items as `relay`'s /status shows it. */
export async function itemsProgress<T>(
  relay: PgrelayProcess,
  kind: 'snapshot' | 'backfill',
): Promise<T | undefined> {
  return ((await relay.status()).sources.db?.[kind] as Record<string, T> | undefined)?.['public.items'];
}

/**
 * Asserts that of `events` (a snapshot's or a backfill's rows) at most `inFlight` were sent twice (a
 * row sent again keeps its event id), and fewer than the `acknowledged` rows a restart from the
 * start would send again. Returns how many were.
 */
export function assertFewResent(
  events: readonly ChangeEvent[],
  inFlight: number,
  acknowledged: number,
): number {
  const resent = events.length - new Set(events.map((e) => e.id)).size;
  assert.ok(
    resent <= inFlight && resent < acknowledged,
    `${resent} rows re-sent: at most what was in flight (${inFlight}), not the ${acknowledged} acknowledged`,
  );
  return resent;
}
