import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { interpolate } from '../../src/config/interpolate.js';
import { ConfigError } from '../../src/core/errors.js';

const env = { PGPASSWORD: 's3cret', EMPTY: '', REGION: 'eu' };
const where = (path: (string | number)[]) => `pgrelay.toml: ${path.join('.')}`;
const resolve = (value: unknown) => interpolate(value, env, where);

describe('${ENV} interpolation', () => {
  test('replaces ${NAME} in every string, however deep', () => {
    assert.deepEqual(
      resolve({
        sources: { db1: { dsn: 'postgres://cdc:${PGPASSWORD}@db1/app', tables: ['${REGION}.users'] } },
        n: 3,
        on: true,
      }),
      { sources: { db1: { dsn: 'postgres://cdc:s3cret@db1/app', tables: ['eu.users'] } }, n: 3, on: true },
    );
    assert.equal(resolve('${REGION}-${REGION}'), 'eu-eu');
  });

  test('${NAME:-default} falls back when NAME is unset or empty', () => {
    assert.equal(resolve('${MISSING:-eu}'), 'eu');
    assert.equal(resolve('${EMPTY:-eu}'), 'eu');
    assert.equal(resolve('${REGION:-us}'), 'eu');
    assert.equal(resolve('${MISSING:-}'), '');
    assert.equal(resolve('${EMPTY}'), '', 'set but empty is a value');
  });

  test('$${ is a literal ${', () => {
    assert.equal(resolve('$${PGPASSWORD}'), '${PGPASSWORD}');
    assert.equal(resolve('cost: $${'), 'cost: ${');
    assert.equal(resolve('$$${REGION}'), '$${REGION}');
  });

  test('errors name the key: unset variable, malformed or unterminated reference', () => {
    const cases: [unknown, string][] = [
      [
        { http: { listen: '${MISSING}' } },
        'pgrelay.toml: http.listen: environment variable MISSING is not set',
      ],
      [
        { sinks: { main: { brokers: ['${ 1BAD }'] } } },
        'pgrelay.toml: sinks.main.brokers.0: "${ 1BAD }" is not a valid variable reference (use ${NAME} or ${NAME:-default})',
      ],
      [
        { sources: { db1: { dsn: 'postgres://cdc:${PGPASSWORD@db1/app' } } },
        'pgrelay.toml: sources.db1.dsn: "${" has no closing "}" (a literal "${" is written "$${")',
      ],
    ];
    for (const [input, message] of cases) {
      assert.throws(
        () => resolve(input),
        (error) => error instanceof ConfigError && error.message === message,
      );
    }
  });
});
