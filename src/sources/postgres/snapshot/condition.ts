import { PgRelayError } from '../../../core/errors.js';

/**
 * An operator's row condition (`snapshot_where`, a backfill's `where`) that is not one SQL
 * expression: refused before any query runs.
 */
export class SqlConditionError extends PgRelayError {
  constructor(condition: string, reason: string) {
    super('PGRELAY_SQL_CONDITION', `${JSON.stringify(condition)} is not one SQL condition: ${reason}`);
  }
}

const IDENTIFIER_CHAR = /[A-Za-z0-9_$]/;

/**
 * Checks that `condition` is one expression once wrapped in parentheses: every string, quoted
 * identifier and dollar-quoted body is closed, parentheses balance and never close more than they
 * opened, and there is no `;`, comment or parameter. Readers wrap it as `(condition)` and run it as a
 * single statement (extended query protocol) in a READ ONLY transaction, so it can narrow the rows
 * read and nothing else. The lexer follows standard_conforming_strings = on, which the source's
 * sessions set. PostgreSQL then checks the rest (syntax, boolean type) when the reader plans it.
 * Returns the condition, trimmed.
 */
export function checkCondition(condition: string): string {
  const text = condition.trim();
  const refuse = (reason: string): never => {
    throw new SqlConditionError(condition, reason);
  };
  if (text === '') refuse('it is empty');
  let depth = 0;
  let i = 0;
  const closeQuoted = (quote: string, backslashEscapes: boolean, what: string) => {
    const start = i;
    for (i++; i < text.length; i++) {
      const c = text[i];
      if (backslashEscapes && c === '\\') i++;
      else if (c === quote) {
        if (text[i + 1] !== quote) return;
        i++;
      }
    }
    refuse(`the ${what} starting at character ${start + 1} is not closed`);
  };
  for (; i < text.length; i++) {
    const c = text[i]!;
    const previous = i > 0 ? text[i - 1]! : ' ';
    if (c === "'") {
      const escaped = (previous === 'E' || previous === 'e') && !IDENTIFIER_CHAR.test(text[i - 2] ?? ' ');
      closeQuoted("'", escaped, 'string');
    } else if (c === '"') {
      closeQuoted('"', false, 'quoted identifier');
    } else if (c === '$' && !IDENTIFIER_CHAR.test(previous)) {
      const tag = /^\$([A-Za-z_][A-Za-z0-9_]*)?\$/.exec(text.slice(i));
      if (tag === null) refuse(`parameters ($n) have no values here (character ${i + 1})`);
      const end = text.indexOf(tag![0], i + tag![0].length);
      if (end === -1) refuse(`the dollar-quoted string starting at character ${i + 1} is not closed`);
      i = end + tag![0].length - 1;
    } else if (c === ';') {
      refuse(`";" at character ${i + 1}: one condition, not several statements`);
    } else if ((c === '-' && text[i + 1] === '-') || (c === '/' && text[i + 1] === '*')) {
      refuse(`comments are not allowed (character ${i + 1})`);
    } else if (c === '(') {
      depth++;
    } else if (c === ')') {
      if (--depth < 0) refuse(`")" at character ${i + 1} closes a parenthesis the condition did not open`);
    }
  }
  if (depth > 0) refuse(depth === 1 ? '1 parenthesis is not closed' : `${depth} parentheses are not closed`);
  return text;
}
