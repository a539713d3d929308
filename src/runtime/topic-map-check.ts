import { closest, formatPath } from '../config/issues.js';
import { qualify } from '../sources/postgres/config.js';
import type { ConfigParts } from './config-checks.js';

/**
 * What a sink's sources can deliver, as topic_map sees it (the event's `schema.table`, or a raw
 * message's source topic). Undefined when that is known only at run time: a postgres source
 * streaming a publication's tables ("*" or no `tables`), a Kafka source relaying pgrelay or
 * psql-streamer events (their tables are upstream's), or a sink whose module handlers may make
 * events of their own.
 */
interface Deliverable {
  names: Set<string>;
  patterns: RegExp[];
  /** Bare keys mean public.NAME, as in `tables`. */
  postgres: boolean;
  /** Bare keys mean themselves too: a raw topic, or a psql-streamer table without schema. */
  kafka: boolean;
}

/**
 * Normalises every Kafka sink's topic_map (a bare `table` is `public.table` when a postgres source
 * feeds the sink, as in `tables`) and reports keys that name nothing its sources can deliver: such
 * a key would send nothing, and the rows meant for it would go to topic_fallback or be dropped.
 */
export function checkTopicMaps(config: ConfigParts): string[] {
  const problems: string[] = [];
  for (const [sinkName, sink] of Object.entries(config.sinks)) {
    if (sink?.type !== 'kafka') continue;
    const feeding = sink.sources.map((name) => config.sources[name]);
    const postgres = feeding.some((s) => s?.type === 'postgres');
    const kafka = feeding.some((s) => s?.type === 'kafka');
    const normalised: Record<string, string> = {};
    const writtenAs = new Map<string, string>();
    for (const [key, topic] of Object.entries(sink.topic_map)) {
      const names = postgres ? [qualify(key), ...(kafka && !key.includes('.') ? [key] : [])] : [key];
      for (const name of names) {
        const earlier = writtenAs.get(name);
        if (earlier !== undefined && normalised[name] !== topic) {
          problems.push(
            `${formatPath(['sinks', sinkName, 'topic_map', key])}: maps "${name}" again, to another topic than "${earlier}" does`,
          );
        }
        normalised[name] = topic;
        writtenAs.set(name, key);
      }
    }
    sink.topic_map = normalised;

    const deliverable = deliverableOf(config, sink.sources, sink.handlers);
    if (deliverable === undefined) continue;
    const candidates = [...deliverable.names];
    for (const key of new Set(writtenAs.values())) {
      const names = deliverable.postgres ? [qualify(key)] : [];
      if (deliverable.kafka) names.push(key);
      const matches = (name: string) =>
        deliverable.names.has(name) || deliverable.patterns.some((p) => p.test(name));
      if (names.some(matches)) continue;
      const suggestion = closest(names[0]!, candidates);
      const listed = candidates.length === 0 ? 'none' : candidates.map((c) => `"${c}"`).join(', ');
      problems.push(
        `${formatPath(['sinks', sinkName, 'topic_map', key])}: no source of sink "${sinkName}" delivers "${names[0]}"` +
          `${suggestion === undefined ? '' : ` (did you mean "${suggestion}"?)`}; its sources deliver ${listed}` +
          (deliverable.patterns.length > 0
            ? ` and topics matching ${deliverable.patterns.map((p) => `/${p.source}/`).join(', ')}`
            : ''),
      );
    }
  }
  return problems;
}

function deliverableOf(
  config: ConfigParts,
  sources: readonly string[],
  handlers: readonly string[],
): Deliverable | undefined {
  if (handlers.some((name) => config.handlers[name]?.type === 'module')) return undefined;
  const deliverable: Deliverable = { names: new Set(), patterns: [], postgres: false, kafka: false };
  for (const name of sources) {
    const source = config.sources[name];
    if (source === undefined) return undefined;
    if (source.type === 'postgres') {
      if (source.tables.length === 0 || source.tables.includes('*')) return undefined;
      deliverable.postgres = true;
      for (const table of source.tables) deliverable.names.add(qualify(table));
    } else {
      if (source.format !== 'raw') return undefined;
      deliverable.kafka = true;
      for (const topic of source.topics) deliverable.names.add(topic);
      if (source.topic_pattern !== undefined) deliverable.patterns.push(new RegExp(source.topic_pattern));
    }
  }
  return deliverable;
}
