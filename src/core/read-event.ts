import { type ChangeAction, type ChangeEvent, type RelayEvent, type Row, SOURCE_JSON } from './event.js';
import { parseJsonExact, stringifyExact } from './json.js';
import { isCanonicalFlatObject } from './json-scan.js';

/**
 * A pgrelay event read from a Kafka message that was checked whole (core/json-scan.ts), whose rows
 * and the fields nothing on the way to a sink reads stay text in the message until something reads
 * them. A relay that writes the message as read (SOURCE_JSON) needs only its key parsed; building
 * the rest was most of its CPU time and, while events waited for the sink, most of its heap.
 * Reading `xid`, `commit_time`, `columns`, `old` or `unchanged_toast` parses the message once.
 *
 * The rows are getters, which a copy ({...event}) leaves out: handlers get plainEvent() copies,
 * and JSON.stringify uses toJSON(). The getters have no setters, so changing one of those fields
 * throws instead of leaving the message bytes stale.
 */
export class ReadEvent implements ChangeEvent {
  id = '';
  source = '';
  host = '';
  database = '';
  schema: string | null = null;
  table: string | null = null;
  action: ChangeAction = 'insert';
  lsn = '';
  readonly #message: Buffer;
  readonly #keyStart: number;
  readonly #keyEnd: number;
  #key: Row | null | undefined;
  #parsed: ChangeEvent | undefined;

  /** `keyStart`, `keyEnd`: where the key's JSON object lies in `message`; keyStart -1 when the key is null. */
  constructor(message: Buffer, keyStart: number, keyEnd: number) {
    this.#message = message;
    this.#keyStart = keyStart;
    this.#keyEnd = keyEnd;
  }

  get [SOURCE_JSON](): Buffer {
    return this.#message;
  }

  get key(): Row | null {
    if (this.#key === undefined)
      this.#key =
        this.#keyStart < 0
          ? null
          : (parseJsonExact(this.#message.toString('utf8', this.#keyStart, this.#keyEnd)) as Row);
    return this.#key;
  }

  /** The key as JSON, as encodings write it (core/encoding.ts keyJson): the message's text when that is it already. */
  keyJson(): string | null {
    const start = this.#keyStart;
    const end = this.#keyEnd;
    if (start < 0) return null;
    return isCanonicalFlatObject(this.#message, start, end)
      ? this.#message.toString('utf8', start, end)
      : stringifyExact(this.key);
  }

  get xid(): number | null {
    return this.parsed().xid;
  }

  get commit_time(): string | null {
    return this.parsed().commit_time;
  }

  get columns(): Row | null {
    return this.parsed().columns;
  }

  get old(): Row | null {
    return this.parsed().old;
  }

  get unchanged_toast(): string[] {
    return this.parsed().unchanged_toast;
  }

  /**
   * The event as a plain object with the fields in the order pgrelay writes them. Its rows are
   * parsed afresh: a handler that changes them changes neither this event nor another sink's copy.
   */
  plain(): ChangeEvent {
    const parsed = this.parse();
    return {
      id: this.id,
      source: this.source,
      host: this.host,
      database: this.database,
      schema: this.schema,
      table: this.table,
      action: this.action,
      lsn: this.lsn,
      xid: parsed.xid,
      commit_time: parsed.commit_time,
      key: parsed.key,
      columns: parsed.columns,
      old: parsed.old,
      unchanged_toast: parsed.unchanged_toast,
    };
  }

  toJSON(): ChangeEvent {
    return this.plain();
  }

  private parsed(): ChangeEvent {
    return (this.#parsed ??= this.parse());
  }

  private parse(): ChangeEvent {
    return parseJsonExact(this.#message.toString('utf8')) as unknown as ChangeEvent;
  }
}

/** An event a handler may copy and change: a ReadEvent as a plain object, any other as it is. */
export function plainEvent(event: RelayEvent): RelayEvent {
  return event instanceof ReadEvent ? event.plain() : event;
}
