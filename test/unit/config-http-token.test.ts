import assert from 'node:assert/strict';
import { after, describe, test } from 'node:test';
import { parseConfig } from '../../src/runtime/config.js';
import { scratchDir } from '../helpers/cli.js';

const MINIMAL = `[state]\npath = "state.db"\n[sources.db1]\ntype = "postgres"\ndsn = "postgres://x@h/app"\n[sinks.out]\ntype = "stub"\nsources = ["db1"]\n`;

describe('config: the HTTP API token', () => {
  const scratch = scratchDir();
  const config = (http: string, env: NodeJS.ProcessEnv = {}) =>
    parseConfig(`[http]\n${http}\n${MINIMAL}`, `${scratch.dir}/pgrelay.toml`, env);

  test('comes from token (an environment variable, typically) or from token_file, trimmed', () => {
    assert.equal(config('token = "${TOKEN}"', { TOKEN: 'a'.repeat(16) }).http.token, 'a'.repeat(16));
    scratch.write('http.token', `  ${'b'.repeat(20)}\n`);
    const fromFile = config('token_file = "http.token"');
    assert.equal(fromFile.http.token, 'b'.repeat(20));
    assert.equal(fromFile.http.token_file, `${scratch.dir}/http.token`);
    assert.equal(config('').http.token, undefined);
  });

  test('refuses both at once, a missing file and a token shorter than 16 characters', () => {
    scratch.write('short.token', 'tiny\n');
    assert.throws(
      () => config(`token = "${'a'.repeat(16)}"\ntoken_file = "http.token"`),
      /pgrelay\.toml: http\.token_file: set token or token_file, not both/,
    );
    assert.throws(() => config('token_file = "gone.token"'), /http\.token_file: no such file .*gone\.token/);
    assert.throws(
      () => config('token_file = "short.token"'),
      /http\.token_file: .*short\.token holds a token shorter than 16 characters/,
    );
    assert.throws(() => config('token = "tiny"'), /http\.token: use at least 16 characters/);
  });

  after(() => scratch.remove());
});
