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
}

/** Called once per sink and batch when that sink holds the batch durably. */
export type Ack = () => void;
