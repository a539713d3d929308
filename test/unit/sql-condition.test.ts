import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { SqlConditionError, checkCondition } from '../../src/sources/postgres/snapshot/condition.js';

describe('an operator SQL condition (snapshot_where, backfill where)', () => {
  test('is accepted as one expression, strings, identifiers and subqueries included', () => {
    for (const condition of [
      'id > 1000',
      "name = 'a;b -- c /* d */ (e'",
      "note = 'it''s (open'",
      `"weird) col" = 1 AND "a""b" IS NULL`,
      'body = $$a); DROP TABLE t; --$$',
      'body = $x$ $$ ) $x$ AND id > 1',
      "tag = E'\\\\' AND other = E'\\'('",
      '(a OR b) AND (c OR (d AND e))',
      'EXISTS (SELECT 1 FROM orders o WHERE o.item = items.id)',
      'price$ > 1',
    ]) {
      assert.equal(checkCondition(`  ${condition} `), condition);
    }
  });

  test('that breaks out of its parentheses, stacks statements or hides text is refused, naming why', () => {
    const cases: [string, RegExp][] = [
      ['1=1); DROP TABLE victim; --', /"\)" at character 4 closes a parenthesis the condition did not open/],
      ['1=1) OR (true', /"\)" at character 4 closes a parenthesis/],
      ['id > 1; DELETE FROM t', /";" at character 7: one condition, not several statements/],
      ['id > 1 -- and the rest', /comments are not allowed \(character 8\)/],
      ['id > 1 /* x */', /comments are not allowed/],
      ['(id > 1', /1 parenthesis is not closed/],
      ['((id > 1', /2 parentheses are not closed/],
      ["name = 'open", /the string starting at character 8 is not closed/],
      ['"open = 1', /the quoted identifier starting at character 1 is not closed/],
      ['body = $t$ never closed', /the dollar-quoted string starting at character 8 is not closed/],
      ['id = $1', /parameters \(\$n\) have no values here/],
      ['   ', /it is empty/],
      // Backslash escapes only in E'' strings: here the quote ends the string and ")" breaks out.
      ["name = '\\') OR (true", /"\)" at character 11 closes a parenthesis/],
    ];
    for (const [condition, reason] of cases) {
      assert.throws(
        () => checkCondition(condition),
        (error: unknown) =>
          error instanceof SqlConditionError &&
          error.code === 'PGRELAY_SQL_CONDITION' &&
          error.message.startsWith(`${JSON.stringify(condition)} is not one SQL condition: `) &&
          reason.test(error.message),
        condition,
      );
    }
  });
});
