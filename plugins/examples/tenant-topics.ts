/**
 * An example handler plugin (README "Handlers"): sends each change to a topic of its tenant,
 * `<prefix>.<tenant>`, where the tenant is a column of the row. Changes without the column go on,
 * as events, to the next handler (or the sink's own routing).
 *
 *   [handlers.tenants]
 *   type = "module"
 *   path = "/etc/pgrelay/plugins/tenant-topics.js"
 *   options = { column = "tenant_id", prefix = "cdc" }
 *
 * Only types are imported, so the compiled file (dist/plugins/examples/tenant-topics.js) stands
 * alone and can be copied anywhere.
 */
import type { Logger } from 'pino';
import type { ChangeEvent, RelayEvent, Value } from '../../src/core/event.js';
import type { Handler, HandlerOutput } from '../../src/core/handler.js';

const TOPIC_NAME = /^[A-Za-z0-9._-]{1,200}$/;

export function createHandler(
  options: Record<string, unknown>,
  context: { name: string; log: Logger },
): Handler {
  const column = options.column ?? 'tenant_id';
  const prefix = options.prefix ?? 'tenant';
  // Throwing here is reported as a config error naming the handler.
  if (typeof column !== 'string' || typeof prefix !== 'string') {
    throw new Error('options.column and options.prefix must be strings');
  }
  context.log.info({ column, prefix }, `tenant topics: ${prefix}.<${column}>`);

  const route = (event: RelayEvent): HandlerOutput => {
    if (event.action === 'raw') return event;
    const tenant = tenantOf(event, column);
    if (tenant === undefined) return event;
    const topic = `${prefix}.${tenant}`;
    // Throwing for one event makes pgrelay dead-letter that event (or stop the sink without
    // dead_letter_topic); it never skips it silently.
    if (!TOPIC_NAME.test(topic))
      throw new Error(`tenant ${JSON.stringify(tenant)} does not make a valid topic name`);
    return {
      topic,
      key: event.key === null ? null : JSON.stringify(event.key),
      value: JSON.stringify(event),
      origin: event,
    };
  };

  return { name: context.name, process: (events) => events.map(route) };
}

/** The tenant of a change: from the new row, or from the old row or key of a delete. */
function tenantOf(event: ChangeEvent, column: string): string | undefined {
  const value: Value | undefined = (event.columns ?? event.old ?? event.key ?? {})[column];
  if (value === undefined || value === null) return undefined;
  return typeof value === 'string' ? value : JSON.stringify(value);
}
