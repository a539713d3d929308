import { CHANGE_ACTIONS, type ChangeAction, EVENT_FIELDS } from '../../core/event.js';
import {
  JsonObjectScanner,
  MINUS,
  NULL_START,
  OPEN_BRACE,
  OPEN_BRACKET,
  QUOTE,
  isDigit,
  sameBytes,
} from '../../core/json-scan.js';
import { isLsnSpan } from '../../core/lsn.js';
import { ReadEvent } from '../../core/read-event.js';

const fieldIndex = (field: (typeof EVENT_FIELDS)[number]): number => EVENT_FIELDS.indexOf(field);
const ID = fieldIndex('id');
const SOURCE = fieldIndex('source');
const HOST = fieldIndex('host');
const DATABASE = fieldIndex('database');
const SCHEMA = fieldIndex('schema');
const TABLE = fieldIndex('table');
const ACTION = fieldIndex('action');
const LSN = fieldIndex('lsn');
const XID = fieldIndex('xid');
const COMMIT_TIME = fieldIndex('commit_time');
const KEY = fieldIndex('key');
const COLUMNS = fieldIndex('columns');
const OLD = fieldIndex('old');
const UNCHANGED_TOAST = fieldIndex('unchanged_toast');
const FIELD_NAMES = EVENT_FIELDS.map((field) => Buffer.from(field));
const ALL_FIELDS = (1 << EVENT_FIELDS.length) - 1;
/** Each field at its own place, as pgrelay writes them. */
const IN_ORDER = Int32Array.from(EVENT_FIELDS.keys());

/** A number this long may not survive a double; the full decoder refuses such an xid, so it decides. */
const LONG_NUMBER = 16;

/**
 * Reads a complete pgrelay event (every field of the contract present once, nothing else: what
 * pgrelay writes) as a ReadEvent, checking it as the full decoder does. Anything else, valid or
 * not, is left to the full decoder (undefined): an event to complete, one with fields an enrich
 * handler added, a psql-streamer event, and every message that is not an event, whose error the
 * full decoder words. Fields that repeat from event to event (source, table, …) are made into
 * strings once.
 */
export class CompleteEventReader {
  private readonly scanner = new JsonObjectScanner(EVENT_FIELDS.length, FIELD_NAMES);
  /** Per field, the member of the last message that held it: IN_ORDER, or what findFields() found. */
  private memberOf = IN_ORDER;
  private readonly found = new Int32Array(EVENT_FIELDS.length);
  private readonly repeated = {
    source: new RepeatedText(),
    host: new RepeatedText(),
    database: new RepeatedText(),
    schema: new RepeatedText(),
    table: new RepeatedText(),
    action: new RepeatedText(),
  };

  read(bytes: Buffer | null): ReadEvent | undefined {
    const scanner = this.scanner;
    if (bytes === null || !scanner.scan(bytes) || scanner.count !== EVENT_FIELDS.length) return undefined;
    this.memberOf = IN_ORDER;
    if (!scanner.inOrder) {
      if (!this.findFields(bytes)) return undefined;
      this.memberOf = this.found;
    }
    const keyKind = bytes[this.start(KEY)];
    if (keyKind !== OPEN_BRACE && keyKind !== NULL_START) return undefined;
    const repeated = this.repeated;
    const source = this.string(bytes, SOURCE, repeated.source);
    const host = this.string(bytes, HOST, repeated.host);
    const database = this.string(bytes, DATABASE, repeated.database);
    const action = this.string(bytes, ACTION, repeated.action);
    const schema = this.nullableString(bytes, SCHEMA, repeated.schema);
    const table = this.nullableString(bytes, TABLE, repeated.table);
    if (
      !this.isPlainString(bytes, ID) ||
      !this.isPlainString(bytes, LSN) ||
      !isLsnSpan(bytes, this.start(LSN) + 1, this.end(LSN) - 1) ||
      source === undefined ||
      host === undefined ||
      database === undefined ||
      action === undefined ||
      !CHANGE_ACTIONS.has(action) ||
      schema === undefined ||
      table === undefined ||
      !this.isStringOrNull(bytes, COMMIT_TIME) ||
      !this.isShortNumberOrNull(bytes, XID) ||
      !this.isRowOrNull(bytes, COLUMNS) ||
      !this.isRowOrNull(bytes, OLD) ||
      !this.isColumnList(bytes, UNCHANGED_TOAST)
    )
      return undefined;
    const event = new ReadEvent(bytes, {
      keyStart: keyKind === NULL_START ? -1 : this.start(KEY),
      keyEnd: this.end(KEY),
      idStart: this.start(ID) + 1,
      idEnd: this.end(ID) - 1,
      lsnStart: this.start(LSN) + 1,
      lsnEnd: this.end(LSN) - 1,
    });
    event.source = source;
    event.host = host;
    event.database = database;
    event.schema = schema;
    event.table = table;
    event.action = action as ChangeAction;
    return event;
  }

  /** Maps each member to its field; false when a name is not a field or a field is missing (so another came twice). */
  private findFields(bytes: Buffer): boolean {
    const scanner = this.scanner;
    let seen = 0;
    for (let member = 0; member < EVENT_FIELDS.length; member++) {
      const start = scanner.nameStart(member);
      const end = scanner.nameEnd(member);
      let field = -1;
      for (let other = 0; field < 0 && other < EVENT_FIELDS.length; other++)
        if (isSpan(bytes, start, end, FIELD_NAMES[other]!)) field = other;
      if (field < 0) return false;
      seen |= 1 << field;
      this.found[field] = member;
    }
    return seen === ALL_FIELDS;
  }

  private start(field: number): number {
    return this.scanner.valueStart(this.memberOf[field]!);
  }

  private end(field: number): number {
    return this.scanner.valueEnd(this.memberOf[field]!);
  }

  /** The field's string, or undefined when it is not a string. */
  private string(bytes: Buffer, field: number, repeated?: RepeatedText): string | undefined {
    const start = this.start(field);
    const end = this.end(field);
    if (bytes[start] !== QUOTE) return undefined;
    if (this.scanner.valueEscaped(this.memberOf[field]!))
      return JSON.parse(bytes.toString('utf8', start, end)) as string;
    return repeated === undefined
      ? bytes.toString('utf8', start + 1, end - 1)
      : repeated.read(bytes, start + 1, end - 1);
  }

  /**
   * Whether the field is a string written without escapes, whose bytes are its text. pgrelay writes
   * ids and LSNs so; one with an escape is left to the full decoder.
   */
  private isPlainString(bytes: Buffer, field: number): boolean {
    return bytes[this.start(field)] === QUOTE && !this.scanner.valueEscaped(this.memberOf[field]!);
  }

  private nullableString(bytes: Buffer, field: number, repeated?: RepeatedText): string | null | undefined {
    return bytes[this.start(field)] === NULL_START ? null : this.string(bytes, field, repeated);
  }

  private isStringOrNull(bytes: Buffer, field: number): boolean {
    const first = bytes[this.start(field)];
    return first === QUOTE || first === NULL_START;
  }

  /** A number or null; a number too long for a double to hold is left to the full decoder. */
  private isShortNumberOrNull(bytes: Buffer, field: number): boolean {
    const start = this.start(field);
    const first = bytes[start]!;
    if (first === NULL_START) return true;
    return (first === MINUS || isDigit(first)) && this.end(field) - start < LONG_NUMBER;
  }

  private isRowOrNull(bytes: Buffer, field: number): boolean {
    const first = bytes[this.start(field)];
    return first === OPEN_BRACE || first === NULL_START;
  }

  /** A list of column names: [] on the hot path; a longer one is parsed to check its items. */
  private isColumnList(bytes: Buffer, field: number): boolean {
    const start = this.start(field);
    const end = this.end(field);
    if (bytes[start] !== OPEN_BRACKET) return false;
    if (end - start === 2) return true;
    const list = JSON.parse(bytes.toString('utf8', start, end)) as unknown[];
    return list.every((item) => typeof item === 'string');
  }
}

/** The string a field held in the last message, made again only when its bytes change. */
class RepeatedText {
  private bytes = Buffer.alloc(0);
  private text = '';

  read(message: Buffer, start: number, end: number): string {
    if (!isSpan(message, start, end, this.bytes)) {
      this.text = message.toString('utf8', start, end);
      // A copy: the message's buffer is not kept alive for a string.
      this.bytes = Buffer.from(message.subarray(start, end));
    }
    return this.text;
  }
}

/** Whether bytes[start, end) are `expected`. */
function isSpan(bytes: Buffer, start: number, end: number, expected: Buffer): boolean {
  return end - start === expected.length && sameBytes(bytes, start, expected, 0, expected.length);
}
