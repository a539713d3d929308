import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';
import { type CdcFixture, cdcFixture, postgresSource } from '../harness/cdc.js';
import { PgrelayProcess } from '../harness/pgrelay.js';
import { pgrelay } from '../helpers/cli.js';

const TOKEN = 'tok-3f9c2a7e51d84b06';

/**
 * With [http] token_file, the endpoints that change something (debug switches, backfill) answer 401
 * without the bearer token; the read-only ones stay open (health checks, Prometheus).
 */
describe('HTTP API with a bearer token', () => {
  let fx: CdcFixture;
  let relay: PgrelayProcess;

  before(async () => {
    fx = await cdcFixture('httpauth');
    await fx.sql('CREATE TABLE t (id int PRIMARY KEY)');
    await fx.sql('INSERT INTO t SELECT generate_series(1, 5)');
    relay = await PgrelayProcess.create(
      postgresSource('db', fx, ['t']) + '\n[sinks.out]\ntype = "stub"\nsources = ["db"]\n',
      'token_file = "token"',
    );
    fs.writeFileSync(path.join(relay.dir, 'token'), `${TOKEN}\n`, { mode: 0o600 });
    await relay.start();
  });

  after(async () => {
    await relay?.destroy();
  });

  test('read-only endpoints answer without it', async () => {
    for (const url of ['/health', '/status', '/stats', '/metrics']) {
      assert.equal((await relay.get(url)).status, 200, url);
    }
  });

  test('debug and backfill answer 401 without it or with a wrong one, and act with it', async () => {
    const attempts: [string, RequestInit][] = [
      ['/debug/on', { method: 'POST' }],
      ['/debug/off', {}],
      [
        '/sources/db/backfill',
        { method: 'POST', headers: { 'content-type': 'application/json' }, body: '{"table":"t"}' },
      ],
    ];
    for (const [url, init] of attempts) {
      for (const authorization of [undefined, 'Bearer wrong-token-0000000', `Basic ${TOKEN}`]) {
        const headers = {
          ...(init.headers as Record<string, string>),
          ...(authorization ? { authorization } : {}),
        };
        const response = await relay.get(url, { ...init, headers });
        assert.equal(response.status, 401, `${url} with ${authorization ?? 'nothing'}`);
        assert.equal(response.headers.get('www-authenticate'), 'Bearer realm="pgrelay"');
        assert.equal(((await response.json()) as { code: string }).code, 'PGRELAY_HTTP_UNAUTHORIZED');
      }
    }
    const status = await relay.status();
    assert.equal(status.sources.db!.debug, false, 'a refused /debug/on switched nothing');
    assert.equal(status.sources.db!.backfill, undefined, 'a refused backfill started nothing');

    const on = await relay.get('/debug/on', {
      method: 'POST',
      headers: { authorization: `Bearer ${TOKEN}` },
    });
    assert.equal(on.status, 200);
    assert.equal((await relay.status()).sources.db!.debug, true);
    assert.match(relay.log(), /refused POST \/debug\/on: no bearer token/);
  });

  test('the backfill command sends the token from token_file', async () => {
    const result = await pgrelay([
      'backfill',
      '-c',
      relay.configFile,
      '--source',
      'db',
      '--table',
      't',
      '--wait',
    ]);
    assert.equal(result.code, 0, result.stderr);
    assert.match(result.stderr, /backfill [0-9a-f-]{36} of t done: 5 rows/);
  });
});
