import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import type { ChangeEvent } from '../../src/core/event.js';
import { kafkaSink, kafkaSource } from '../fixtures/configs.js';
import { relayMessages } from '../fixtures/events.js';
import { KafkaServer, SASL_USER } from '../harness/kafka.js';
import { readAtLeast } from '../harness/kcat.js';
import { type StatusBody, PgrelayProcess } from '../harness/pgrelay.js';
import { waitFor } from '../harness/processes.js';
import { createTopics, produce, uniqueName } from '../harness/topics.js';

/** The Kafka source over SASL (PLAIN, SCRAM-SHA-256/512) and mutual TLS, and the named failures when they are wrong. */
describe('Kafka source: SASL and TLS', () => {
  let kafka: KafkaServer;
  const relays: PgrelayProcess[] = [];
  const COUNT = 200;

  before(async () => {
    kafka = await KafkaServer.start({ secure: true });
  });

  after(async () => {
    for (const relay of relays) await relay.destroy();
    await kafka?.destroy();
  });

  /** A relay from `topic` through the listener `broker`, into `<topic>.out` on the plain listener. */
  async function relay(name: string, broker: string, security: Record<string, Record<string, string>>) {
    const topic = uniqueName(name);
    await createTopics(kafka.brokers, [topic], 2);
    await produce(kafka.brokers, topic, relayMessages(COUNT));
    const process = await PgrelayProcess.create(
      kafkaSource('edge', { brokers: [broker], topics: [topic], group_id: `${topic}-group`, ...security }) +
        kafkaSink('central', { brokers: kafka.brokers, sources: ['edge'], topic_fallback: `${topic}.out` }),
    );
    relays.push(process);
    return { process, out: `${topic}.out` };
  }

  const sasl = (mechanism: string, password: string = SASL_USER.password) => ({
    sasl: { mechanism, username: SASL_USER.username, password },
  });

  test('PLAIN, SCRAM-SHA-256, SCRAM-SHA-512 and mutual TLS all consume', async () => {
    const { sasl: saslBroker, tls: tlsBroker, caFile, clientCertFile, clientKeyFile } = kafka.secure!;
    const runs = [
      await relay('plain', saslBroker, sasl('plain')),
      await relay('scram256', saslBroker, sasl('scram-sha-256')),
      await relay('scram512', saslBroker, sasl('scram-sha-512')),
      await relay('mtls', tlsBroker, {
        tls: { ca_file: caFile, cert_file: clientCertFile, key_file: clientKeyFile },
      }),
    ];
    for (const { process, out } of runs) {
      await process.start();
      const events = (await readAtLeast(kafka.brokers, out, COUNT)).map(
        (m) => JSON.parse(m.value!) as ChangeEvent,
      );
      assert.equal(new Set(events.map((e) => e.columns!.seq)).size, COUNT, out);
    }
  });

  test('a wrong password and an untrusted certificate are named failures', async () => {
    const { sasl: saslBroker, tls: tlsBroker } = kafka.secure!;
    const runs = [
      await relay('badpass', saslBroker, sasl('scram-sha-512', 'wrong')),
      await relay('badca', tlsBroker, { tls: {} }),
    ];
    const failed = async (process: PgrelayProcess) => {
      await process.start({ waitRunning: false });
      return waitFor(
        'the source to fail',
        async () => {
          const body: StatusBody = await process.status();
          return body.sources.edge!.state === 'failed' ? body.sources.edge! : undefined;
        },
        60_000,
        process.logFile,
      );
    };
    const badpass = await failed(runs[0]!.process);
    assert.equal(badpass.last_error!.code, 'PGRELAY_KAFKA_AUTH');
    assert.match(badpass.last_error!.message, /SASL authentication failed/);
    assert.equal(badpass.last_error!.config_key, 'sources.edge.sasl.password');
    const badca = await failed(runs[1]!.process);
    assert.equal(badca.last_error!.code, 'PGRELAY_KAFKA_TLS');
    assert.match(badca.last_error!.message, /tls\.ca_file/);
    assert.equal(badca.last_error!.config_key, 'sources.edge.tls.ca_file');
  });
});
