import type { KeyToFix, KeyToFixOf } from '../core/component.js';
import { errorCode, errorMessage } from '../core/errors.js';
import { HandlerError } from '../core/handler.js';
import type { Config } from './config-schema.js';

/**
 * The config key an operator fixes when a source or sink stops for good, by the error's code: the
 * components name what went wrong, the runtime (which knows the config) names where to fix it, so
 * `sources.db1.dsn` or `sinks.out.sasl.password` appears in the log line and in /status. Failures
 * a config key cannot fix (wal_level, a slot dropped on the server) name none: their messages say
 * what to do.
 */
export function keyToFixOf(config: Config, role: 'source' | 'sink', name: string): KeyToFixOf {
  const at = `${role === 'source' ? 'sources' : 'sinks'}.${name}`;
  return (error) => {
    const code = errorCode(error);
    if (code === undefined) return undefined;
    return (
      postgresKey(at, code, errorMessage(error)) ?? kafkaKey(at, role, code) ?? handlerKey(config, at, error)
    );
  };
}

function postgresKey(at: string, code: string, message: string): KeyToFix | undefined {
  switch (code) {
    case 'PGRELAY_PG_PERMISSION':
      return /authentication failed/i.test(message)
        ? { key: `${at}.dsn`, why: 'its user and password' }
        : { key: `${at}.dsn`, why: 'grant its user the privilege named, or name another user' };
    case 'PGRELAY_PG_DATABASE_MISSING':
      return { key: `${at}.dsn`, why: 'the database it names' };
    case 'PGRELAY_PG_TLS':
      return { key: `${at}.dsn`, why: 'its sslmode and sslrootcert' };
    case 'PGRELAY_PG_SLOT_NOT_FOUND':
      return { key: `${at}.slot`, why: 'create the slot, name an existing one, or set create_slot = true' };
    case 'PGRELAY_PG_SLOT_PLUGIN':
    case 'PGRELAY_PG_SLOT_DATABASE':
      return { key: `${at}.slot`, why: 'name a pgoutput slot of this database' };
    case 'PGRELAY_PG_PUBLICATION_MISSING':
      return {
        key: `${at}.publication`,
        why: 'create it, name an existing one, or set create_publication = true',
      };
    case 'PGRELAY_PG_SNAPSHOT_TABLE':
      return { key: `${at}.snapshot_tables`, why: 'name tables the source can read' };
    default:
      return undefined;
  }
}

function kafkaKey(at: string, role: 'source' | 'sink', code: string): KeyToFix | undefined {
  switch (code) {
    case 'PGRELAY_KAFKA_AUTH':
      return { key: `${at}.sasl.password`, why: 'with sasl.username and sasl.mechanism' };
    case 'PGRELAY_KAFKA_TLS':
      return { key: `${at}.tls.ca_file`, why: "the CA that signed the broker's certificate" };
    case 'PGRELAY_KAFKA_FORBIDDEN':
      return { key: `${at}.sasl.username`, why: "grant this user what the broker's ACLs refused" };
    case 'PGRELAY_KAFKA_UNKNOWN_TOPIC':
      return role === 'sink'
        ? { key: `${at}.topic_map`, why: 'name topics that exist, or create them' }
        : { key: `${at}.topics`, why: 'name topics that exist, or create them' };
    case 'PGRELAY_KAFKA_DEAD_LETTER':
      return { key: `${at}.dead_letter_topic`, why: 'a topic pgrelay may write to' };
    default:
      return undefined;
  }
}

/** A handler that threw: its own table, or the sink's list for a built-in one. */
function handlerKey(config: Config, at: string, error: unknown): KeyToFix | undefined {
  if (!(error instanceof HandlerError)) return undefined;
  const why = `or set ${at}.dead_letter_topic to set such events aside`;
  return error.handler in config.handlers
    ? { key: `handlers.${error.handler}`, why: `fix the handler, ${why}` }
    : { key: `${at}.handlers`, why: `use a handler that takes these events, ${why}` };
}
