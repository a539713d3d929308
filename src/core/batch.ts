import type { RelayEvent } from './event.js';

/**
 * What a source hands to the router: consecutive events of one source, acknowledged as a unit once
 * every sink wired to that source holds all of them.
 */
export interface SourceBatch {
  readonly source: string;
  readonly events: readonly RelayEvent[];
  /** Approximate size in memory, for buffer limits. */
  readonly bytes: number;
  /** When the oldest event was committed (PostgreSQL) or produced (Kafka), ms since epoch; for latency. */
  readonly originTimeMs: number;
  /**
   * Every event is held as the bytes it was read from (a checked pgrelay event, core/read-event.ts)
   * rather than as objects built per row: cheap to hold, so a sink lets a delivery's worth of them
   * wait behind the one in flight (core/sink.ts, hasRoom).
   */
  readonly heldAsBytes?: boolean;
}

/** Called once per sink and batch when that sink holds the batch durably. */
export type Ack = () => void;
