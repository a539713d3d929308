/**
 * JSON that keeps every number exactly: PostgreSQL's json/jsonb and the events pgrelay reads back
 * from Kafka can hold numbers a double cannot.
 */
import type { Value } from './event.js';

/**
 * A `json` (not `jsonb`) value as PostgreSQL stored it: duplicate keys, key order and spacing are
 * part of it, and parsing would lose them. stringifyExact() writes the text verbatim; anything else
 * that serialises it (JSON.stringify in a user's handler) gets the parsed value. `value` parses.
 */
export class JsonText {
  constructor(readonly text: string) {}

  get value(): Value {
    return parseJsonExact(this.text);
  }

  toJSON(): unknown {
    return verbatim === undefined ? this.value : verbatim.hold(this.text);
  }
}

/**
 * Marks the stand-ins of one process. A stand-in is a string of NUL, this, its index and NUL: no
 * value holds one (PostgreSQL text cannot contain NUL), and JSON.stringify writes it as
 * "\u0000…\u0000", which substitute() finds.
 */
const STAND_IN = `pgrelay-json-${process.pid}-${Date.now().toString(36)}:`;
const STAND_IN_PATTERN = new RegExp(`"\\\\u0000${STAND_IN}(\\d+)\\\\u0000"`, 'g');

/** The raw texts one stringifyExact() call collects, each standing in the output as a unique string. */
class VerbatimTexts {
  private readonly texts: string[] = [];

  hold(text: string): string {
    return `\0${STAND_IN}${this.texts.push(text) - 1}\0`;
  }

  get count(): number {
    return this.texts.length;
  }

  /** The serialised output with each stand-in (a JSON string, quotes included) replaced by its text. */
  substitute(json: string): string {
    return json.replace(STAND_IN_PATTERN, (_match, index: string) => this.texts[Number(index)]!);
  }
}

let verbatim: VerbatimTexts | undefined;

/**
 * JSON.stringify, except that `json` values (JsonText) are written exactly as PostgreSQL stored
 * them. The event encodings use it.
 */
export function stringifyExact(value: unknown): string {
  const outer = verbatim;
  const texts = new VerbatimTexts();
  verbatim = texts;
  try {
    const json = JSON.stringify(value);
    return texts.count === 0 ? json : texts.substitute(json);
  } finally {
    verbatim = outer;
  }
}

/**
 * json/jsonb text to a JSON value. Numbers a double cannot hold exactly are kept verbatim
 * (JSON.rawJSON), so re-serialising writes the same digits PostgreSQL stored.
 */
export function parseJsonExact(text: string): Value {
  if (!hasLongNumber(text)) return JSON.parse(text) as Value;
  return JSON.parse(text, (_key, value: unknown, context?: { source?: string }) => {
    if (typeof value === 'number' && context?.source !== undefined && !sameNumber(value, context.source)) {
      return (JSON as unknown as { rawJSON(text: string): unknown }).rawJSON(context.source);
    }
    return value;
  }) as Value;
}

/** A double holds 15 significant digits exactly: a literal this long may not survive JSON.parse. */
const LONG_NUMBER = 16;

/**
 * Whether the text holds 16 or more characters in a row of [0-9.eE+-]: the only place a number a
 * double cannot hold can be. It runs on every event the Kafka source reads, so it looks at every
 * 16th character only (any such run covers one of them) and measures the run around a numeric one;
 * a regular expression costs more than JSON.parse itself.
 */
function hasLongNumber(text: string): boolean {
  const length = text.length;
  let checked = LONG_NUMBER - 1;
  while (checked < length) {
    if (!isNumeric(text.charCodeAt(checked))) {
      checked += LONG_NUMBER;
      continue;
    }
    let start = checked;
    while (start > 0 && isNumeric(text.charCodeAt(start - 1))) start--;
    let end = checked + 1;
    while (end < length && isNumeric(text.charCodeAt(end))) end++;
    if (end - start >= LONG_NUMBER) return true;
    // text[end] is not numeric: the next run long enough ends at end + 16 or later.
    checked = end + LONG_NUMBER;
  }
  return false;
}

function isNumeric(c: number): boolean {
  return (c >= 48 && c <= 57) || c === 46 || c === 101 || c === 69 || c === 43 || c === 45;
}

function sameNumber(value: number, source: string): boolean {
  return String(value) === source || canonicalDecimal(String(value)) === canonicalDecimal(source);
}

/** A decimal literal as digits and exponent without insignificant zeros: 1.50 and 15e-1 → "15e-1". */
function canonicalDecimal(text: string): string {
  const match = /^(-?)(\d+)(?:\.(\d+))?(?:[eE]([+-]?\d+))?$/.exec(text);
  if (!match) return text;
  const [, sign, whole, fraction = '', exponent = '0'] = match;
  let digits = (whole! + fraction).replace(/^0+/, '');
  let scale = Number(exponent) - fraction.length;
  const trimmed = digits.replace(/0+$/, '');
  scale += digits.length - trimmed.length;
  digits = trimmed;
  return digits === '' ? '0' : `${sign}${digits}e${scale}`;
}
