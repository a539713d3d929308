import { routingName } from '../../core/event.js';
import type { SinkRecord } from '../../core/handler.js';

/**
 * Chooses a record's topic: its own `topic`, else topic_map on `schema.table` (or the source topic of
 * a relayed message), else the first topic_routes pattern that matches, else topic_fallback.
 * Undefined means unmapped: the sink drops and counts it.
 */
export class TopicRouter {
  private readonly routes: { pattern: RegExp; topic: string }[];
  private readonly cache = new Map<string, string | undefined>();
  private last: { schema: string | null; table: string | null; topic: string | undefined } | undefined;

  constructor(
    private readonly map: Record<string, string>,
    routes: Record<string, string>,
    private readonly fallback: string | undefined,
  ) {
    this.routes = Object.entries(routes).map(([pattern, topic]) => ({ pattern: new RegExp(pattern), topic }));
  }

  /** The topics the config names: topic_fallback, topic_map's and topic_routes'. */
  namedTopics(): string[] {
    const named = [...Object.values(this.map), ...this.routes.map((r) => r.topic)];
    if (this.fallback !== undefined) named.push(this.fallback);
    return [...new Set(named)];
  }

  topicFor(record: SinkRecord): string | undefined {
    if (record.topic !== undefined) return record.topic;
    const origin = record.origin;
    if (origin === undefined) return this.fallback;
    // Consecutive changes mostly come from one table: its name is not built again for each.
    const last = this.last;
    if (origin.action !== 'raw' && last?.schema === origin.schema && last.table === origin.table)
      return last.topic;
    const name = routingName(origin);
    let topic: string | undefined;
    if (this.cache.has(name)) topic = this.cache.get(name);
    else {
      topic = this.map[name] ?? this.routes.find((r) => r.pattern.test(name))?.topic ?? this.fallback;
      this.cache.set(name, topic);
    }
    if (origin.action !== 'raw') this.last = { schema: origin.schema, table: origin.table, topic };
    return topic;
  }
}
