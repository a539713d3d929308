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

/** PostgreSQL's own spelling: upper-case hex halves, no padding. */
export function formatLsn(lsn: Lsn): string {
  return `${(lsn >> 32n).toString(16).toUpperCase()}/${(lsn & 0xffffffffn).toString(16).toUpperCase()}`;
}

export function maxLsn(a: Lsn, b: Lsn): Lsn {
  return a > b ? a : b;
}
