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

/**
 * Why a sink cannot write `record`, or undefined when it can. A handler's output is checked here, so
 * a wrong type is blamed on the handler and its event instead of failing deep in a Kafka client.
 */
export function recordProblem(record: Record<string, unknown>): string | undefined {
  for (const field of ['key', 'value'] as const) {
    if (!isBytes(record[field]))
      return `its ${field} is ${kind(record[field])} (key and value must each be a Buffer, a string or null)`;
  }
  const { topic, headers, origin } = record;
  if (topic !== undefined && (typeof topic !== 'string' || topic === '')) {
    return `its topic is ${kind(topic)} (a topic must be a non-empty string, or left out to route by origin)`;
  }
  const headerRule = '(header values must be Buffers or strings, or arrays of them)';
  if (headers !== undefined) {
    if (typeof headers !== 'object' || headers === null || Array.isArray(headers)) {
      return `its headers are ${kind(headers)} ${headerRule}`;
    }
    for (const [name, value] of Object.entries(headers)) {
      const items: unknown[] = Array.isArray(value) ? value : [value];
      const wrong = items.findIndex((item) => !isHeaderValue(item));
      if (wrong === -1) continue;
      const what = Array.isArray(value) ? `an array holding ${kind(items[wrong])}` : kind(value);
      return `its header "${name}" is ${what} ${headerRule}`;
    }
  }
  if (
    origin !== undefined &&
    !(typeof origin === 'object' && origin !== null && isEvent(origin as HandlerOutput))
  ) {
    return `its origin is ${kind(origin)} (origin must be the event the record came from, or left out)`;
  }
  return undefined;
}

function isHeaderValue(value: unknown): value is Buffer | string {
  return typeof value === 'string' || Buffer.isBuffer(value);
}

function isBytes(value: unknown): value is Buffer | string | null {
  return value === null || isHeaderValue(value);
}

/** What a value is, for an error message: "missing", "null", "an array", "a Uint8Array"... */
function kind(value: unknown): string {
  if (value === undefined) return 'missing';
  if (value === null) return 'null';
  if (value === '') return 'an empty string';
  if (Array.isArray(value)) return 'an array';
  if (typeof value === 'object') {
    // Object.create(null) has no constructor.
    const name = (value as { constructor?: { name?: string } }).constructor?.name;
    if (name === undefined || name === 'Object') return 'an object';
    return `a ${name}`;
  }
  return `a ${typeof value}`;
}

/** A handler threw or returned something that is neither an event nor a record a sink can write. */
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
