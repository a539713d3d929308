import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { TypeRegistry, ValueError, moneyToDecimal } from '../../src/sources/postgres/schema/values.js';

const MONEY = 790;
const MONEY_ARRAY = 791;

// The texts are PostgreSQL 15's output with lc_monetary=C (the source's session setting): it still
// adds "$" and "," (SELECT 1234567.89::money).
describe('money: its plain decimal, not the locale text', () => {
  test('sign, currency sign and grouping go; the digits stay', () => {
    assert.equal(moneyToDecimal('$1,234,567.89'), '1234567.89');
    assert.equal(moneyToDecimal('-$1,234,567.89'), '-1234567.89');
    assert.equal(moneyToDecimal('$0.00'), '0.00');
    assert.equal(moneyToDecimal('-$0.01'), '-0.01');
    assert.equal(moneyToDecimal('$12.34'), '12.34');
    assert.equal(moneyToDecimal('$92,233,720,368,547,758.07'), '92233720368547758.07', 'the largest');
    assert.equal(moneyToDecimal('-$92,233,720,368,547,758.08'), '-92233720368547758.08', 'the smallest');
  });

  test('columns and arrays of money map through the type registry', () => {
    const types = new TypeRegistry();
    types.load([
      { oid: MONEY, name: 'money', category: 'N', elem: 0, delimiter: ',', base: 0 },
      { oid: MONEY_ARRAY, name: '_money', category: 'A', elem: MONEY, delimiter: ',', base: 0 },
    ]);
    assert.equal(types.converter(MONEY)('-$1,234.50'), '-1234.50');
    // ARRAY['1.5'::money, '-1234.5'::money, NULL]
    assert.deepEqual(types.converter(MONEY_ARRAY)('{$1.50,"-$1,234.50",NULL}'), ['1.50', '-1234.50', null]);
  });

  test('a text in another form is a named error, never passed on altered', () => {
    for (const text of ['1.234,50 €', '($5.00)', '$', 'USD 5.00']) {
      assert.throws(
        () => moneyToDecimal(text),
        (error) =>
          error instanceof ValueError &&
          error.code === 'PGRELAY_PG_VALUE' &&
          error.message === `money value in an unexpected form (lc_monetary=C expected): ${text}`,
        text,
      );
    }
  });
});
