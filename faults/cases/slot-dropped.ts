import { setTimeout as sleep } from 'node:timers/promises';
import type { StatusBody } from '../../test/harness/pgrelay.js';
import { waitFor } from '../../test/harness/processes.js';
import { type FaultCase, result } from '../fault-case.js';
import { PostgresFeed } from '../postgres-feed.js';

export interface SlotDroppedOptions {
  /** Rows of a large transaction committed just before the drop, so that something is in flight. */
  largeRows: number;
}

/** What a source must report when its slot is gone while it streams. */
const EXPECTED_CODE = 'PGRELAY_PG_SLOT_MISSING';

/** Audit rows of transactions whose commit the WAL holds between the audit's start ($1) and $2. */
const COMMITTED_BY = `xid % 4294967296 IN (
  SELECT xid::text::bigint FROM pg_get_wal_records_info($1::pg_lsn, $2::pg_lsn)
  WHERE resource_manager = 'Transaction' AND record_type = 'COMMIT' AND end_lsn <= $2::pg_lsn)`;

/**
 * The replication slot dropped under a running pgrelay (its walsender terminated, then the slot
 * dropped before pgrelay reconnects). The source must stop with a named failure (503), and every
 * change committed up to the position it stored must be in Kafka. The commits are read from the WAL
 * itself (pg_walinspect); a physical slot keeps that WAL while the case runs.
 */
export function slotDropped({ largeRows }: SlotDroppedOptions): FaultCase {
  return {
    name: 'replication slot dropped',
    injected: `pg_terminate_backend(walsender) + pg_drop_replication_slot while running; small transactions and one of ${largeRows.toLocaleString('en-US')} rows just before`,
    async run({ random, log }) {
      const feed = await PostgresFeed.create('faultslot', { rows: largeRows });
      const slot = `pgrelay_db_${feed.fx.database}`;
      const hold = `faults_hold_${feed.fx.database}`;
      await feed.fx.sql('CREATE EXTENSION pg_walinspect');
      await feed.fx.sql('SELECT pg_create_physical_replication_slot($1, true)', [hold]);
      try {
        feed.startLoad();
        await sleep(3000 + random() * 3000);
        const large = feed.bulk(largeRows);
        await sleep(random() * 2000);
        const faultAt = Date.now();
        const confirmed = await waitFor(
          `slot ${slot} to be dropped`,
          async () => {
            await feed.fx.sql(
              'SELECT pg_terminate_backend(active_pid, 5000) FROM pg_replication_slots WHERE slot_name = $1 AND active_pid IS NOT NULL',
              [slot],
            );
            const [row] = await feed.fx.sql<{ lsn: string }>(
              'SELECT confirmed_flush_lsn::text AS lsn, pg_drop_replication_slot(slot_name) FROM pg_replication_slots WHERE slot_name = $1',
              [slot],
            );
            return row?.lsn;
          },
          30_000,
        );
        const problems: string[] = [];
        const failure = await waitFor(
          'the source to fail with a named error and /status 503',
          async () => {
            const response = await feed.relay.get('/status');
            const source = ((await response.json()) as StatusBody).sources.db!;
            return response.status === 503 && source.state === 'failed'
              ? { code: source.last_error?.code, position: source.position, ms: Date.now() - faultAt }
              : undefined;
          },
          60_000,
        ).catch(async () => {
          const source = (await feed.relay.status()).sources.db!;
          problems.push(
            `no failure within 60 s: state ${source.state}, ${source.last_error?.code ?? 'no error'}`,
          );
          return undefined;
        });
        if (failure !== undefined && failure.code !== EXPECTED_CODE)
          problems.push(`failed with ${failure.code ?? 'no code'}, not ${EXPECTED_CODE}`);
        await large;
        await feed.stopLoad();
        // /status describes a position inside a transaction as "LSN (and N events of the transaction
        // committed at …)": the changes expected are those committed up to the LSN; the events of
        // that transaction already delivered count as extra deliveries.
        const stored = (failure?.position ?? confirmed).split(' ')[0]!;
        log(
          `slot dropped (confirmed ${confirmed}), source stored ${failure?.position ?? confirmed}: ${failure?.code ?? 'no failure'}`,
        );
        const counts = await feed.count([], { committed: COMMITTED_BY, params: [feed.auditStart, stored] });
        return result(this, counts, {
          bound: { perFault: 0 },
          problems,
          notes: [
            ...(failure ? [`${failure.code} and /status 503 after ${(failure.ms / 1000).toFixed(1)} s`] : []),
            `expected: changes committed up to the stored position ${stored}`,
          ],
          extraDeliveries: true,
        });
      } finally {
        await feed.fx.sql('SELECT pg_drop_replication_slot($1)', [hold]).catch(() => undefined);
        await feed.destroy();
      }
    },
  };
}
