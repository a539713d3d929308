import type { ChangeAction, ChangeEvent, Row } from '../../../core/event.js';
import type { Table } from './table.js';

/** Where and when the changes of one transaction (or one snapshot read) happened. */
export interface EventOrigin {
  /** The transaction's commit LSN as text (snapshot: its consistent point; backfill: where the stream carries it). */
  lsnText: string;
  xid: number | null;
  /** Commit time, ISO 8601 UTC with microseconds; null for rows read by a snapshot or backfill. */
  commitTime: string | null;
}

/**
 * Builds a source's change events (README "Event format"): the stream's row changes, truncates and
 * logical messages, and the rows snapshots and backfills read, all with the same shape.
 */
export class EventFactory {
  constructor(
    private readonly source: string,
    private readonly host: string,
    private readonly database: string,
  ) {}

  /** An event of `table` (null: a logical message) with the id given. */
  event(
    id: string,
    origin: EventOrigin,
    table: Table | null,
    action: ChangeAction,
    key: Row | null,
    columns: Row | null,
    old: Row | null,
    unchangedToast: string[],
  ): ChangeEvent {
    return {
      id,
      source: this.source,
      host: this.host,
      database: this.database,
      schema: table?.schema ?? null,
      table: table?.table ?? null,
      action,
      lsn: origin.lsnText,
      xid: origin.xid,
      commit_time: origin.commitTime,
      key,
      columns,
      old,
      unchanged_toast: unchangedToast,
    };
  }

  /** A row a snapshot or backfill read: `id` names the read and the row's key (or ctid). */
  row(id: string, origin: EventOrigin, table: Table, columns: Row): ChangeEvent {
    return this.event(id, origin, table, 'snapshot', table.key(columns), columns, null, []);
  }
}
