import assert from 'node:assert/strict';
import fs from 'node:fs';
import { after, before, describe, test } from 'node:test';
import { type CdcFixture, cdcFixture, kafkaSink, parseEvents, postgresSource } from '../harness/cdc.js';
import { KafkaServer } from '../harness/kafka.js';
import { readTopic } from '../harness/kcat.js';
import { PgrelayProcess } from '../harness/pgrelay.js';
import { waitFor } from '../harness/processes.js';

/** The Kafka broker stops and comes back mid-stream: the sink retries and nothing is lost. */
describe('PostgreSQL → Kafka: broker outage', () => {
  let fx: CdcFixture;
  let kafka: KafkaServer;
  let relay: PgrelayProcess;

  before(async () => {
    kafka = await KafkaServer.start();
    fx = await cdcFixture('outage', { brokers: kafka.brokers });
    await fx.sql('CREATE TABLE ticks (id int PRIMARY KEY)');
    relay = await PgrelayProcess.create(
      postgresSource('db', fx, ['ticks']) +
        kafkaSink('out', fx, ['db'], `topic_fallback = "${fx.topic('ticks')}"\nrequest_timeout = "5s"`),
    );
    await relay.start();
  });

  after(async () => {
    await relay?.destroy();
    await kafka?.destroy();
  });

  test('the sink reports retrying while the broker is down, holds positions, and delivers everything after', async () => {
    let next = 1;
    const insert = async (count: number) => {
      for (let i = 0; i < count; i++, next++) await fx.sql(`INSERT INTO ticks VALUES (${next})`);
    };
    await insert(50);
    await waitFor(
      'the first rows',
      async () => ((await readTopic(kafka.brokers, fx.topic('ticks'))).length >= 50 ? true : undefined),
      60_000,
    );

    await kafka.stop();
    await insert(100);
    const down = await waitFor(
      'the sink to report retrying',
      async () => {
        const status = await relay.status();
        return status.sinks.out!.state === 'retrying' ? status : undefined;
      },
      60_000,
      relay.logFile,
    );
    assert.equal(down.status, 'degraded');
    assert.equal((await relay.get('/status')).status, 503);
    assert.ok(down.sinks.out!.last_error, 'the broker error is reported');
    const stored = down.sources.db!.position;

    await kafka.start();
    await insert(50);
    const events = await waitFor(
      'all 200 rows after the broker returned',
      async () => {
        const all = parseEvents(await readTopic(kafka.brokers, fx.topic('ticks')));
        return new Set(all.map((e) => e.columns!.id)).size >= 200 ? all : undefined;
      },
      120_000,
      relay.logFile,
    );
    const ids = [...new Set(events.map((e) => e.columns!.id as number))].sort((a, b) => a - b);
    assert.deepEqual(
      ids,
      Array.from({ length: 200 }, (_, i) => i + 1),
    );
    const order = events.map((e) => e.columns!.id as number);
    const firstSeen = order.filter((id, i) => order.indexOf(id) === i);
    assert.deepEqual(
      firstSeen,
      [...firstSeen].sort((a, b) => a - b),
      'commit order kept across the outage',
    );
    const status = await relay.waitRunning();
    assert.notEqual(status.sources.db!.position, stored, 'the position moved again once the broker was back');

    // One line when the broker went away and one when it came back, however many attempts between.
    const brokerLines = fs
      .readFileSync(relay.logFile, 'utf8')
      .split('\n')
      .filter((line) => line.includes(`Kafka broker ${kafka.brokers[0]}`))
      .map((line) => (JSON.parse(line) as { level: string; msg: string }).level);
    assert.deepEqual(brokerLines, ['warn', 'info']);
  });
});
