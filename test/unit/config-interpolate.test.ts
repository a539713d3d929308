import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { interpolate } from '../../src/config/interpolate.js';

const env = { PGPASSWORD: 's3cret', EMPTY: '', REGION: 'eu' };
const resolve = (value: unknown) => {
  const { value: resolved, problems } = interpolate(value, env);
  assert.deepEqual(problems, []);
  return resolved;
};

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

  test('every problem is reported with its key: unset variable, malformed or unterminated reference', () => {
    const input = {
      http: { listen: '${MISSING}' },
      sinks: { main: { brokers: ['${ 1BAD }'] } },
      sources: { db1: { dsn: 'postgres://cdc:${PGPASSWORD@db1/app' }, db2: { dsn: '${REGION}' } },
    };
    const { value, problems } = interpolate(input, env);
    assert.deepEqual(problems, [
      { path: ['http', 'listen'], message: 'environment variable MISSING is not set' },
      {
        path: ['sinks', 'main', 'brokers', 0],
        message: '"${ 1BAD }" is not a valid variable reference (use ${NAME} or ${NAME:-default})',
      },
      {
        path: ['sources', 'db1', 'dsn'],
        message: '"${" has no closing "}" (a literal "${" is written "$${")',
      },
    ]);
    // Strings with a problem stay as written; the others are resolved.
    assert.deepEqual(value, { ...input, sources: { ...input.sources, db2: { dsn: 'eu' } } });
  });
});
