/**
 * PostgreSQL log sequence numbers. They travel as "X/Y" text, padded ("0/0016B3748") or not
 * ("0/16B3748") depending on who printed them, so they are compared as 64-bit integers only.
 */
export type Lsn = bigint;

const LSN_TEXT = /^([0-9A-Fa-f]{1,8})\/([0-9A-Fa-f]{1,8})$/;

export function lsnToBigInt(text: string): Lsn {
  const match = LSN_TEXT.exec(text.trim());
  if (!match) throw new Error(`"${text}" is not an LSN (expected X/Y in hexadecimal)`);
  return (BigInt(`0x${match[1]}`) << 32n) | BigInt(`0x${match[2]}`);
}

export function isLsn(text: string): boolean {
  return LSN_TEXT.test(text.trim());
}

const SLASH = 0x2f;

/**
 * Whether bytes[start, end) spell an LSN exactly: 1 to 8 hex digits, a slash, 1 to 8 hex digits.
 * isLsn() also takes it with spacing around, which this leaves to its callers' slower path.
 */
export function isLsnSpan(bytes: Uint8Array, start: number, end: number): boolean {
  let slash = start;
  while (slash < end && bytes[slash] !== SLASH) slash++;
  return isHexRun(bytes, start, slash) && isHexRun(bytes, slash + 1, end);
}

function isHexRun(bytes: Uint8Array, start: number, end: number): boolean {
  if (end - start < 1 || end - start > 8) return false;
  for (let at = start; at < end; at++) {
    const c = bytes[at]!;
    const lower = c | 0x20; // A-F to a-f
    if (!((c >= 0x30 && c <= 0x39) || (lower >= 0x61 && lower <= 0x66))) return false;
  }
  return true;
}

/** PostgreSQL's own spelling: upper-case hex halves, no padding. */
export function formatLsn(lsn: Lsn): string {
  return `${(lsn >> 32n).toString(16).toUpperCase()}/${(lsn & 0xffffffffn).toString(16).toUpperCase()}`;
}

export function maxLsn(a: Lsn, b: Lsn): Lsn {
  return a > b ? a : b;
}
