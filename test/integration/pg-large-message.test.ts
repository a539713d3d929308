import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { lsnToBigInt } from '../../src/core/lsn.js';
import {
  type CdcFixture,
  cdcFixture,
  incompressibleText,
  kafkaSink,
  postgresSource,
} from '../harness/cdc.js';
import { PgrelayProcess, positionLsn } from '../harness/pgrelay.js';
import { createTopics } from '../harness/topics.js';
import { waitFor } from '../harness/processes.js';

/** A message larger than the broker accepts is a named error with the table and key, never a silent drop. */
describe('Kafka sink: a message too large for the topic', () => {
  let fx: CdcFixture;
  let relay: PgrelayProcess;

  before(async () => {
    fx = await cdcFixture('large');
    await createTopics(fx.brokers, [fx.topic('small')], 1, { 'max.message.bytes': '20000' });
    await fx.sql('CREATE TABLE notes (id int PRIMARY KEY, body text)');
    relay = await PgrelayProcess.create(
      postgresSource('db', fx, ['notes']) +
        kafkaSink('out', fx, ['db'], `topic_fallback = "${fx.topic('small')}"`),
    );
    await relay.start();
  });

  after(async () => {
    await relay?.destroy();
  });

  test('the sink fails naming table and key; the rows before it arrive; the position stays', async () => {
    await fx.sql(`INSERT INTO notes VALUES (1, 'fits'), (2, 'fits too')`);
    await fx.events(fx.topic('small'), 2);
    // One transaction, and the WAL position after its rows but before its commit: a position at or
    // past its commit would mean the oversized row is never sent again.
    const [written] = await fx.sql<{ lsn: string }>(
      `WITH written AS (INSERT INTO notes VALUES (3, 'fits as well'), (42, ${incompressibleText(64_000)}) RETURNING id)
       SELECT pg_current_wal_insert_lsn()::text AS lsn FROM (SELECT count(*) FROM written) AS rows`,
    );
    const status = await waitFor(
      'the sink to fail',
      async () => {
        const body = await relay.status();
        return body.sinks.out!.state === 'failed' ? body : undefined;
      },
      60_000,
      relay.logFile,
    );
    const error = status.sinks.out!.last_error!;
    assert.equal(error.code, 'PGRELAY_KAFKA_MESSAGE_TOO_LARGE');
    assert.match(error.message, /public\.notes/);
    assert.match(error.message, /key \{"id":42\}/);
    assert.equal((await relay.get('/status')).status, 503);
    const events = await fx.events(fx.topic('small'), 3);
    assert.deepEqual(
      events.map((e) => e.columns!.id),
      [1, 2, 3],
      'the batch was split: what fits was delivered in order up to the oversized row',
    );
    // The position may have moved before the failure (keepalives while the source was idle), not since.
    const failedAt = status.sources.db!.position;
    await new Promise((r) => setTimeout(r, 1000));
    const position = (await relay.status()).sources.db!.position;
    assert.equal(position, failedAt, 'the source position stays while the sink is failed');
    assert.ok(
      positionLsn(position!) < lsnToBigInt(written!.lsn),
      `the source position ${position} is before the failed transaction's commit (its rows end at ${written!.lsn})`,
    );
  });
});
