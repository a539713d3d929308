import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { environmentFileOf, parseEnvironmentFile } from '../../src/config/env-file.js';

const parse = (text: string) => parseEnvironmentFile(text, 'pgrelay.env');

describe('environment files, read as systemd reads EnvironmentFile=', () => {
  test('is NAME.env beside NAME.toml, as the units name them', () => {
    assert.equal(environmentFileOf('/etc/pgrelay/pgrelay.toml'), '/etc/pgrelay/pgrelay.env');
    assert.equal(environmentFileOf('/etc/pgrelay/orders.toml'), '/etc/pgrelay/orders.env');
    assert.equal(environmentFileOf('conf/relay'), 'conf/relay.env');
  });

  test('KEY=value lines; "#" and ";" lines are comments, a "#" inside a value is the value', () => {
    const text = [
      '# secrets for pgrelay',
      '; another comment',
      '',
      'PGRELAY_DB1_PASSWORD=abc#123',
      '  SPACED =  inner  space kept  \t',
      'EMPTY=',
      'URL=postgres://u@h/db?sslmode=require',
    ].join('\n');
    assert.deepEqual(parse(text), {
      PGRELAY_DB1_PASSWORD: 'abc#123',
      SPACED: 'inner  space kept',
      EMPTY: '',
      URL: 'postgres://u@h/db?sslmode=require',
    });
  });

  test('quotes: single verbatim, double with the shell escapes, both across lines', () => {
    const text = [
      `SINGLE='a "b" \\n $c # d'`,
      'DOUBLE="say \\"hi\\" \\\\ \\$HOME \\` \\n"',
      `MULTI="one`,
      `two"`,
      `JOINED='a'"b"`,
      `INNER=it's "as is"`,
      `PADDED=  "  kept  "  `,
    ].join('\n');
    assert.deepEqual(parse(text), {
      SINGLE: 'a "b" \\n $c # d',
      DOUBLE: 'say "hi" \\ $HOME ` \\n',
      MULTI: 'one\ntwo',
      JOINED: 'ab',
      INNER: `it's "as is"`,
      PADDED: '  kept  ',
    });
  });

  test('a backslash escapes the next character; at the end of a line it continues the value', () => {
    assert.deepEqual(parse('A=one\\\ntwo\nB=a\\ \\#b\\\\\nC=x\r\n'), { A: 'onetwo', B: 'a #b\\', C: 'x' });
  });

  test('lines systemd would skip are errors naming the line: no "=", "export", a bad name, an open quote', () => {
    const cases: [string, string][] = [
      ['A=1\nPGPASSWORD\n', 'pgrelay.env:2: "PGPASSWORD" is not an assignment (write KEY=value)'],
      ['export A=1\n', 'pgrelay.env:1: "export A" is not a variable name (write KEY=value, no "export")'],
      ['1A=x\n', 'pgrelay.env:1: "1A" is not a variable name (write KEY=value, no "export")'],
      ['A="open\nB=2\n', 'pgrelay.env:1: A: a " is not closed'],
      ["A='open\n", "pgrelay.env:1: A: a ' is not closed"],
    ];
    for (const [text, message] of cases) assert.throws(() => parse(text), { name: 'ConfigError', message });
  });
});
