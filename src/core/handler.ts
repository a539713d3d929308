import type { Logger } from 'pino';
import type { RelayEvent } from './event.js';
import { PgRelayError, errorMessage } from './errors.js';

/** A message bound for a sink. */
export interface SinkRecord {
  /** Explicit destination; without it the sink routes by the origin event (topic_map, topic_routes). */
  topic?: string;
  key: Buffer | string | null;
  value: Buffer | string | null;
  /** A name given a list is written once per value, in order; null is a header without a value. */
  headers?: Record<string, Buffer | string | null | (Buffer | string | null)[]>;
  /** The event this record came from: routing, error messages and dead letters name it. */
  origin?: RelayEvent;
}

export type HandlerOutput = RelayEvent | SinkRecord;

export interface HandlerContext {
  /** The sink running this handler. */
  readonly sink: string;
  readonly log: Logger;
}

/**
 * A handler receives a batch of events and returns, in order, records for the sink or events for the
 * next handler. Events left at the end of the chain are encoded by `passthrough`. The interface users
 * implement in their own modules (README "Handlers", plugins/examples/).
 */
export interface Handler {
  readonly name: string;
  process(events: RelayEvent[], context: HandlerContext): HandlerOutput[] | Promise<HandlerOutput[]>;
  close?(): void | Promise<void>;
}

export function isEvent(output: HandlerOutput): output is RelayEvent {
  return typeof (output as { action?: unknown }).action === 'string';
}

/** A handler threw or returned something that is neither an event nor a record. */
export class HandlerError extends PgRelayError {
  constructor(
    readonly handler: string,
    readonly event: RelayEvent | undefined,
    cause: unknown,
  ) {
    super('PGRELAY_HANDLER', `handler "${handler}" failed${describeEvent(event)}: ${errorMessage(cause)}`, {
      cause,
    });
  }
}

export function describeEvent(event: RelayEvent | undefined): string {
  if (event === undefined) return '';
  if (event.action === 'raw') return ` on ${event.topic}[${event.partition}]@${event.offset}`;
  return ` on ${event.action} of ${event.schema ?? ''}.${event.table ?? ''} (id ${event.id})`;
}
