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
 * The id and LSN become strings only when something reads them: a Kafka sink writes them as
 * headers straight from the message's bytes (idStart, lsnStart…), and the message key too (keyBytes).
 *
 * The rows, id and LSN are getters, which a copy ({...event}) leaves out: handlers get plainEvent()
 * copies, and JSON.stringify uses toJSON(). The getters have no setters, so changing one of those
 * fields throws instead of leaving the message bytes stale.
 */
export class ReadEvent implements ChangeEvent {
  source = '';
  host = '';
  database = '';
  schema: string | null = null;
  table: string | null = null;
  action: ChangeAction = 'insert';
  readonly #message: Buffer;
  readonly #keyStart: number;
  readonly #keyEnd: number;
  readonly #idStart: number;
  readonly #idEnd: number;
  readonly #lsnStart: number;
  readonly #lsnEnd: number;
  #id: string | undefined;
  #lsn: string | undefined;
  #key: Row | null | undefined;
  #parsed: ChangeEvent | undefined;

  constructor(message: Buffer, spans: ReadEventSpans) {
    this.#message = message;
    this.#keyStart = spans.keyStart;
    this.#keyEnd = spans.keyEnd;
    this.#idStart = spans.idStart;
    this.#idEnd = spans.idEnd;
    this.#lsnStart = spans.lsnStart;
    this.#lsnEnd = spans.lsnEnd;
  }

  get id(): string {
    return (this.#id ??= this.#message.toString('utf8', this.#idStart, this.#idEnd));
  }

  get lsn(): string {
    return (this.#lsn ??= this.#message.toString('utf8', this.#lsnStart, this.#lsnEnd));
  }

  /** Where the id's UTF-8 starts in the message ([SOURCE_JSON]). */
  get idStart(): number {
    return this.#idStart;
  }

  get idEnd(): number {
    return this.#idEnd;
  }

  /** Where the LSN's UTF-8 starts in the message ([SOURCE_JSON]). */
  get lsnStart(): number {
    return this.#lsnStart;
  }

  get lsnEnd(): number {
    return this.#lsnEnd;
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
    const bytes = this.canonicalKey();
    if (bytes === undefined) return stringifyExact(this.key);
    return bytes === null ? null : bytes.toString('utf8');
  }

  /** keyJson() as UTF-8: a view of the message when the message holds it already. */
  keyBytes(): Buffer | null {
    const bytes = this.canonicalKey();
    return bytes === undefined ? Buffer.from(stringifyExact(this.key)) : bytes;
  }

  /** The key's bytes when they are what keyJson() writes (null for a null key), else undefined. */
  private canonicalKey(): Buffer | null | undefined {
    const start = this.#keyStart;
    const end = this.#keyEnd;
    if (start < 0) return null;
    return isCanonicalFlatObject(this.#message, start, end) ? this.#message.subarray(start, end) : undefined;
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

/**
 * Where a ReadEvent's fields lie in its message: the key's JSON object (keyStart -1 for a null key),
 * and the id's and LSN's text inside their quotes (written without escapes).
 */
export interface ReadEventSpans {
  keyStart: number;
  keyEnd: number;
  idStart: number;
  idEnd: number;
  lsnStart: number;
  lsnEnd: number;
}

/** An event a handler may copy and change: a ReadEvent as a plain object, any other as it is. */
export function plainEvent(event: RelayEvent): RelayEvent {
  return event instanceof ReadEvent ? event.plain() : event;
}
