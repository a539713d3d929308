import { formatPath } from '../config/issues.js';
import { defaultSlot } from '../sources/postgres/config.js';
import { parseDsn } from '../sources/postgres/protocol/dsn.js';
import {
  BUILTIN_HANDLERS,
  type Config,
  type HandlerConfig,
  type SinkConfig,
  type SourceConfig,
} from './config-schema.js';

const COMPONENT_NAME = /^[A-Za-z0-9][A-Za-z0-9_.-]*$/;

/**
 * The sections of a config the rules across sections look at. For an invalid config, a section or
 * component that is invalid on its own is undefined (its name is still known): the rules skip it.
 */
export interface ConfigParts {
  http: Config['http'] | undefined;
  state: Config['state'] | undefined;
  sources: Record<string, SourceConfig | undefined>;
  sinks: Record<string, SinkConfig | undefined>;
  handlers: Record<string, HandlerConfig | undefined>;
}

/** Wiring and naming rules a schema cannot express. `input` is the file as parsed, for sinks invalid on their own. */
export function crossCheck(config: ConfigParts, input: unknown, env: NodeJS.ProcessEnv): string[] {
  const problems: string[] = [];
  const sources = Object.keys(config.sources);
  const sinks = Object.keys(config.sinks);
  for (const [section, names] of [
    ['sources', sources],
    ['sinks', sinks],
    ['handlers', Object.keys(config.handlers)],
  ] as const) {
    for (const name of names) {
      if (!COMPONENT_NAME.test(name)) {
        problems.push(
          `${formatPath([section, name])}: names use letters, digits, "_", "." and "-", starting with a letter or digit`,
        );
      }
    }
  }
  for (const name of sources.filter((n) => sinks.includes(n))) {
    problems.push(
      `${formatPath(['sinks', name])}: duplicate name "${name}": a source has it already (names address components in /status and /debug)`,
    );
  }
  if (sources.length === 0) problems.push('sources: no source is configured');
  if (sinks.length === 0) problems.push('sinks: no sink is configured');

  for (const sinkName of sinks) {
    // A sink invalid for another reason (a bad linger) still has its wiring checked, from the file.
    const wiring = listsOf(input, sinkName);
    const seen = new Set<string>();
    wiring.sources.forEach((source, i) => {
      const at = formatPath(['sinks', sinkName, 'sources', i]);
      if (!(source in config.sources)) {
        problems.push(`${at}: unknown source "${source}"${known(sources)}`);
      } else if (seen.has(source)) {
        problems.push(`${at}: source "${source}" is listed twice`);
      }
      seen.add(source);
    });
    wiring.handlers.forEach((handler, i) => {
      if (!(handler in config.handlers) && !(BUILTIN_HANDLERS as readonly string[]).includes(handler)) {
        problems.push(
          `${formatPath(['sinks', sinkName, 'handlers', i])}: unknown handler "${handler}"${known([...BUILTIN_HANDLERS, ...Object.keys(config.handlers)])}`,
        );
      }
    });
  }
  const fed = new Set(sinks.flatMap((name) => listsOf(input, name).sources));
  for (const source of sources.filter((n) => !fed.has(n))) {
    problems.push(
      `${formatPath(['sources', source])}: no sink reads from this source (list it in a sink's sources)`,
    );
  }
  problems.push(...sharedSlotsAndPublications(config, env));
  return problems;
}

/** A sink's `sources` and `handlers` as the file lists them (a list with other things than names: none; the schema reports it). */
function listsOf(input: unknown, sink: string): { sources: string[]; handlers: string[] } {
  const table = (input as { sinks?: Record<string, unknown> } | null)?.sinks?.[sink] as
    { sources?: unknown; handlers?: unknown } | undefined;
  const names = (list: unknown) =>
    Array.isArray(list) && list.every((item) => typeof item === 'string') ? list : [];
  return { sources: names(table?.sources), handlers: names(table?.handlers) };
}

/**
 * Two sources reading one slot of one database would steal each other's changes (and the second
 * waits forever for the slot the first holds); two sources creating one publication would each
 * keep it in line with their own tables. The database is told by host, port and name as
 * libpq resolves them, so DSNs that only spell it differently (URL or key=value, a default port
 * written out, other parameters) are still the same server.
 */
function sharedSlotsAndPublications(config: ConfigParts, env: NodeJS.ProcessEnv): string[] {
  const problems: string[] = [];
  const slots = new Map<string, string>();
  const publications = new Map<string, string>();
  for (const [name, source] of Object.entries(config.sources)) {
    if (source?.type !== 'postgres') continue;
    let parsed: ReturnType<typeof parseDsn>;
    try {
      parsed = parseDsn(source.dsn, env);
    } catch (error) {
      problems.push(`${formatPath(['sources', name, 'dsn'])}: ${(error as Error).message}`);
      continue;
    }
    const { host, port, database } = parsed;
    const slot = source.slot ?? defaultSlot(name);
    const key = JSON.stringify([host.toLowerCase(), port, database, slot]);
    const other = slots.get(key);
    if (other !== undefined) {
      problems.push(
        `${formatPath(['sources', name, 'slot'])}: sources "${other}" and "${name}" would share one replication slot ("${slot}" on ${host}:${port}/${database})`,
      );
    }
    slots.set(key, name);
    // A publication pgrelay creates follows one source's tables: two would undo each other's.
    if (source.publication === undefined || !source.create_publication) continue;
    const publication = JSON.stringify([host.toLowerCase(), port, database, source.publication]);
    const owner = publications.get(publication);
    if (owner !== undefined) {
      problems.push(
        `${formatPath(['sources', name, 'publication'])}: sources "${owner}" and "${name}" would share publication "${source.publication}" on ${host}:${port}/${database}, and pgrelay keeps a publication it creates in line with one source's tables (remove the key: each source gets pgrelay_<source name>; or create_publication = false on both to share a publication you manage)`,
      );
    }
    publications.set(publication, name);
  }
  return problems;
}

export function known(names: readonly string[]): string {
  return names.length === 0 ? '' : ` (known: ${names.map((n) => `"${n}"`).join(', ')})`;
}
