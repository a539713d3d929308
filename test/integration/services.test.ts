import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { describe, test } from 'node:test';
import { Admin } from '@platformatic/kafka';
import { sharedKafka, sharedPostgres } from '../harness/services.js';

const run = promisify(execFile);

describe('the real services the integration tests run against', () => {
  test('PostgreSQL answers, with wal_level=logical', async () => {
    const postgres = await sharedPostgres();
    const [row] = await postgres.query<{ version: string; wal_level: string }>(
      "SELECT version(), current_setting('wal_level') AS wal_level",
    );
    assert.match(row!.version, /^PostgreSQL \d+/);
    assert.equal(row!.wal_level, 'logical');
  });

  test('Kafka answers @platformatic/kafka and kcat, naming the same broker', async () => {
    const brokers = await sharedKafka();
    const admin = new Admin({ clientId: 'pgrelay-test', bootstrapBrokers: brokers });
    try {
      const cluster = await admin.metadata({ topics: [], forceUpdate: true });
      assert.deepEqual(
        [...cluster.brokers.values()].map((b) => `${b.host}:${b.port}`),
        brokers,
      );
      const { stdout } = await run('kcat', ['-b', brokers.join(','), '-L', '-J']);
      const metadata = JSON.parse(stdout) as { brokers: { name: string }[] };
      assert.deepEqual(
        metadata.brokers.map((b) => b.name),
        brokers,
      );
    } finally {
      await admin.close();
    }
  });
});
