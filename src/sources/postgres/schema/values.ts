/**
 * Column values from PostgreSQL's text output to JSON values that keep their exact meaning
 * (README "Value mapping"). The replication session runs with DateStyle=ISO, TimeZone=UTC,
 * IntervalStyle=iso_8601, bytea_output=hex, extra_float_digits=3 and lc_monetary=C, so every text
 * form below is the one these functions expect.
 */
import type { Value } from '../../../core/event.js';
import { PgRelayError } from '../../../core/errors.js';
import { JsonText, parseJsonExact } from '../../../core/json.js';

export type Converter = (text: string) => Value;

/** A column value whose text form pgrelay cannot map: never retried (it would fail the same way). */
export class ValueError extends PgRelayError {
  constructor(message: string) {
    super('PGRELAY_PG_VALUE', message);
  }
}

/** A row of pg_type, as much of it as the mapping needs. */
export interface TypeInfo {
  oid: number;
  name: string;
  /** typcategory: A array, B boolean, N numeric, E enum, ... */
  category: string;
  /** Element type of an array type, else 0. */
  elem: number;
  delimiter: string;
  /** Base type of a domain, else 0. */
  base: number;
}

export const TYPE_QUERY = `SELECT oid::int8 AS oid, typname AS name, typcategory AS category, typelem::int8 AS elem,
  typdelim AS delimiter, typbasetype::int8 AS base FROM pg_type`;

const OID = {
  bool: 16,
  bytea: 17,
  int8: 20,
  int2: 21,
  int4: 23,
  oid: 26,
  json: 114,
  float4: 700,
  float8: 701,
  money: 790,
  timestamp: 1114,
  timestamptz: 1184,
  jsonb: 3802,
} as const;

const identity: Converter = (text) => text;
const toNumber: Converter = (text) => Number(text);
const toFloat: Converter = (text) => {
  const value = Number(text);
  return Number.isFinite(value) ? value : text; // NaN, Infinity, -Infinity stay strings: JSON has no such numbers
};

const BUILTIN: ReadonlyMap<number, Converter> = new Map<number, Converter>([
  [OID.bool, (text) => text === 't'],
  [OID.int2, toNumber],
  [OID.int4, toNumber],
  [OID.oid, toNumber],
  [OID.float4, toFloat],
  [OID.float8, toFloat],
  [OID.json, (text) => new JsonText(text)],
  [OID.jsonb, parseJsonExact],
  [OID.bytea, byteaToBase64],
  [OID.money, moneyToDecimal],
  [OID.timestamptz, (text) => isoTimestamp(text, true)],
  [OID.timestamp, (text) => isoTimestamp(text, false)],
]);

/** Converters by type OID, from pg_type rows; types it does not know stay text. */
export class TypeRegistry {
  private readonly types = new Map<number, TypeInfo>();
  private readonly converters = new Map<number, Converter>();

  load(
    rows: readonly {
      oid: string | number;
      name: string;
      category: string;
      elem: string | number;
      delimiter: string;
      base: string | number;
    }[],
  ): void {
    this.converters.clear();
    for (const row of rows) {
      const info = {
        oid: Number(row.oid),
        name: row.name,
        category: row.category,
        elem: Number(row.elem),
        delimiter: row.delimiter,
        base: Number(row.base),
      };
      this.types.set(info.oid, info);
    }
  }

  knows(oid: number): boolean {
    return this.types.has(oid) || BUILTIN.has(oid);
  }

  converter(oid: number): Converter {
    let converter = this.converters.get(oid);
    if (converter === undefined) {
      converter = this.build(oid, 0);
      this.converters.set(oid, converter);
    }
    return converter;
  }

  private build(oid: number, depth: number): Converter {
    const builtin = BUILTIN.get(oid);
    if (builtin !== undefined) return builtin;
    const info = this.types.get(oid);
    if (info === undefined || depth > 8) return identity;
    if (info.base !== 0) return this.build(info.base, depth + 1);
    if (info.category === 'A' && info.elem !== 0) {
      const element = this.build(info.elem, depth + 1);
      return (text) => parseArray(text, element, info.delimiter);
    }
    return identity;
  }
}

/** bytea's hex output (\x0a1b...) to base64. */
export function byteaToBase64(text: string): string {
  if (text.startsWith('\\x')) return Buffer.from(text.slice(2), 'hex').toString('base64');
  return Buffer.from(text, 'latin1').toString('base64');
}

/**
 * money's text under lc_monetary=C ("$1,234,567.89", "-$0.01") to its plain decimal ("1234567.89",
 * "-0.01"): the digits as stored, without the locale's currency sign and grouping.
 */
export function moneyToDecimal(text: string): string {
  const match = /^(-?)\$([0-9,]+(?:\.[0-9]+)?)$/.exec(text);
  if (match === null)
    throw new ValueError(`money value in an unexpected form (lc_monetary=C expected): ${text}`);
  return match[1]! + match[2]!.replaceAll(',', '');
}

/**
 * "2024-01-02 03:04:05.12+00" → "2024-01-02T03:04:05.120000Z": ISO 8601, always six fractional
 * digits. infinity, -infinity and BC dates keep PostgreSQL's text.
 */
export function isoTimestamp(text: string, withZone: boolean): string {
  // Six fractional digits (and UTC): the common form, in fewer pieces: 40-50 ns a value instead of
  // 150-180, and 100-120 bytes less garbage (docs/performance.md, "What got the PostgreSQL path here").
  if (text.length === (withZone ? 29 : 26) && text.charCodeAt(10) === 0x20 && text.charCodeAt(19) === 0x2e) {
    if (!withZone) return text.slice(0, 10) + 'T' + text.slice(11);
    if (text.endsWith('+00')) return text.slice(0, 10) + 'T' + text.slice(11, 26) + 'Z';
  }
  const space = text.indexOf(' ');
  if (space < 8 || text.endsWith(' BC')) return text;
  let end = text.length;
  let zone = '';
  if (withZone) {
    end = Math.max(text.lastIndexOf('+'), text.lastIndexOf('-'));
    if (end <= space) return text;
    const offset = text.slice(end);
    zone = offset === '+00' ? 'Z' : offset.length === 3 ? `${offset}:00` : offset;
  }
  const dot = text.indexOf('.', space);
  const seconds = dot === -1 || dot > end ? text.slice(space + 1, end) : text.slice(space + 1, dot);
  const fraction = dot === -1 || dot > end ? '' : text.slice(dot + 1, end);
  return `${text.slice(0, space)}T${seconds}.${fraction.padEnd(6, '0')}${zone}`;
}

/** An array's text form ({1,2,NULL}, {{a,b},{c,d}}, [0:1]={x,y}) to nested arrays of converted elements. */
export function parseArray(text: string, element: Converter, delimiter = ','): Value {
  let i = text.startsWith('[') ? text.indexOf('=') + 1 : 0;
  const parse = (): Value[] => {
    if (text[i] !== '{') throw new ValueError(`malformed array literal: ${text}`);
    i++;
    const out: Value[] = [];
    if (text[i] === '}') {
      i++;
      return out;
    }
    for (;;) {
      const ch = text[i];
      if (ch === '{') {
        out.push(parse());
      } else if (ch === '"') {
        i++;
        let value = '';
        while (i < text.length && text[i] !== '"') {
          if (text[i] === '\\') i++;
          value += text[i++];
        }
        i++;
        out.push(element(value));
      } else {
        const start = i;
        while (i < text.length && text[i] !== delimiter && text[i] !== '}') i++;
        const value = text.slice(start, i);
        out.push(value.length === 4 && value.toUpperCase() === 'NULL' ? null : element(value));
      }
      const separator = text[i++];
      if (separator === '}') return out;
      if (separator !== delimiter) throw new ValueError(`malformed array literal: ${text}`);
    }
  };
  return parse();
}
