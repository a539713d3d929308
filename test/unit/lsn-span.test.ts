import assert from 'node:assert/strict';
import { test } from 'node:test';
import { isLsn, isLsnSpan } from '../../src/core/lsn.js';
import { seededRandom } from '../helpers/random.js';

/** isLsnSpan is isLsn without the spacing isLsn trims. */
function expected(text: string): boolean {
  return text === text.trim() && isLsn(text);
}

function spanAnswer(text: string): boolean {
  const bytes = Buffer.from(`"${text}"`);
  return isLsnSpan(bytes, 1, bytes.length - 1);
}

test('isLsnSpan takes exactly the LSNs isLsn takes without spacing', () => {
  for (const text of [
    '0/0',
    '0/16B3748',
    'FFFFFFFF/ffffffff',
    'aBcDeF01/9',
    '',
    '/',
    '0/',
    '/0',
    '0//0',
    '123456789/0',
    '0/123456789',
    ' 0/1',
    '0/1 ',
    '0/1/2',
    'g/0',
    '0/G',
    '0\u0010/1',
    '0/\u0019',
    '@/`',
  ])
    assert.equal(spanAnswer(text), expected(text), JSON.stringify(text));
  const next = seededRandom(7);
  // Mostly hex digits around one slash, so that about half the texts are LSNs.
  const hex = [...'0123456789abcdefABCDEF'];
  const other = [...'gG/ @`:\u0010\u0016\u0019'];
  const pick = (chars: string[]) => chars[Math.floor(next() * chars.length)]!;
  let lsns = 0;
  for (let round = 0; round < 20_000; round++) {
    const run = () =>
      Array.from({ length: Math.floor(next() * 10) }, () => pick(next() < 0.03 ? other : hex));
    const text = `${run().join('')}/${run().join('')}`;
    if (expected(text)) lsns++;
    assert.equal(spanAnswer(text), expected(text), JSON.stringify(text));
  }
  assert.ok(lsns > 5000 && lsns < 15_000, `${lsns} of 20,000 texts were LSNs: the test checks too little`);
});
