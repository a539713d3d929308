import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { describe, test } from 'node:test';
import { loadConfig } from '../../src/runtime/config.js';
import { ConfigError } from '../../src/core/errors.js';
import { ROOT } from '../harness/pgrelay.js';

const FIXTURES = path.join(ROOT, 'test/fixtures');

/**
 * Each test/fixtures/broken-*.toml holds one mistake and, in `# error:` comment lines, the exact
 * message lines it must fail with ({file} and {dir} stand for its path and directory).
 */
function expectedLines(file: string): string[] {
  return [...fs.readFileSync(file, 'utf8').matchAll(/^# error: (.*)$/gm)].map((m) =>
    m[1]!.replaceAll('{file}', file).replaceAll('{dir}', path.dirname(file)),
  );
}

describe('broken configs are rejected with messages naming the file and key', () => {
  const fixtures = fs.readdirSync(FIXTURES).filter((f) => /^broken-.*\.toml$/.test(f));

  test('there are fixtures, each stating the errors it expects', () => {
    assert.ok(fixtures.length >= 20, `only ${fixtures.length} fixtures found in ${FIXTURES}`);
    for (const name of fixtures) assert.ok(expectedLines(path.join(FIXTURES, name)).length > 0, name);
  });

  for (const name of fixtures) {
    test(name, () => {
      const file = path.join(FIXTURES, name);
      assert.throws(
        () => loadConfig(file, { PGPASSWORD: 'unused' }),
        (error) => {
          assert.ok(error instanceof ConfigError, `${String(error)} is not a ConfigError`);
          assert.deepEqual(error.message.split('\n'), expectedLines(file));
          return true;
        },
      );
    });
  }
});
