/**
 * JSON that keeps every number exactly: PostgreSQL's json/jsonb and the events pgrelay reads back
 * from Kafka can hold numbers a double cannot.
 */
import type { Value } from './event.js';

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

/**
 * Whether the text holds 16 or more characters in a row of [0-9.eE+-]: the only place a number a
 * double cannot hold can be. A loop, because this runs on every event the Kafka source reads and
 * the equivalent regular expression costs more than JSON.parse itself.
 */
function hasLongNumber(text: string): boolean {
  let run = 0;
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    const numeric = (c >= 48 && c <= 57) || c === 46 || c === 101 || c === 69 || c === 43 || c === 45;
    run = numeric ? run + 1 : 0;
    if (run >= 16) return true;
  }
  return false;
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
