import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { Admin } from '@platformatic/kafka';
import { runCommand } from '../harness/processes.js';
import { sharedKafka, sharedPostgres } from '../harness/services.js';

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
      const { code, stdout, stderr } = await runCommand('kcat', ['-b', brokers.join(','), '-L', '-J'], {
        timeoutMs: 60_000,
      });
      assert.equal(code, 0, stderr);
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
