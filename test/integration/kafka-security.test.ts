import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { type CdcFixture, cdcFixture, kafkaSink, postgresSource } from '../harness/cdc.js';
import { KafkaServer, SASL_USER } from '../harness/kafka.js';
import { type StatusBody, PgrelayProcess } from '../harness/pgrelay.js';
import { waitFor } from '../harness/processes.js';

/** Kafka over SASL (PLAIN, SCRAM-SHA-256/512) and TLS, and the named failures when they are wrong. */
describe('Kafka sink: SASL and TLS', () => {
  let kafka: KafkaServer;
  let fx: CdcFixture;
  const relays: PgrelayProcess[] = [];

  before(async () => {
    kafka = await KafkaServer.start({ secure: true });
    fx = await cdcFixture('secure', { brokers: kafka.brokers });
    await fx.sql('CREATE TABLE items (id int PRIMARY KEY)');
  });

  after(async () => {
    for (const relay of relays) await relay.destroy();
    await kafka?.destroy();
  });

  const sink = (source: string, name: string, broker: string, extra: string) =>
    kafkaSink(name, { ...fx, brokers: [broker] }, [source], `topic_fallback = "${fx.topic(name)}"\n${extra}`);
  const sasl = (mechanism: string, password: string = SASL_USER.password) =>
    `[sinks.__.sasl]\nmechanism = "${mechanism}"\nusername = "${SASL_USER.username}"\npassword = "${password}"\n`;
  const tls = (files: Record<string, string> = {}) =>
    `[sinks.__.tls]\nenabled = true\n${Object.entries(files)
      .map(([key, file]) => `${key} = "${file}"\n`)
      .join('')}`;

  async function relay(...sinks: [string, string, string][]): Promise<PgrelayProcess> {
    const source = `db${relays.length}`;
    const body = sinks
      .map(([name, broker, extra]) => sink(source, name, broker, extra.replaceAll('__', name)))
      .join('');
    const process = await PgrelayProcess.create(postgresSource(source, fx, ['items']) + body);
    relays.push(process);
    return process;
  }

  test('PLAIN, SCRAM-SHA-256, SCRAM-SHA-512 and mutual TLS all deliver', async () => {
    const { sasl: saslBroker, tls: tlsBroker, caFile, clientCertFile, clientKeyFile } = kafka.secure!;
    const good = await relay(
      ['plain', saslBroker, sasl('plain')],
      ['scram256', saslBroker, sasl('scram-sha-256')],
      ['scram512', saslBroker, sasl('scram-sha-512')],
      ['tls', tlsBroker, tls({ ca_file: caFile, cert_file: clientCertFile, key_file: clientKeyFile })],
    );
    await good.start();
    await fx.sql('INSERT INTO items VALUES (1), (2)');
    for (const name of ['plain', 'scram256', 'scram512', 'tls']) {
      const events = await fx.events(fx.topic(name), 2);
      assert.deepEqual(
        events.map((e) => e.columns!.id),
        [1, 2],
        name,
      );
    }
  });

  test('a wrong password and an untrusted certificate are named failures', async () => {
    const { sasl: saslBroker, tls: tlsBroker } = kafka.secure!;
    const bad = await relay(
      ['badpass', saslBroker, sasl('scram-sha-512', 'wrong')],
      ['badca', tlsBroker, tls()],
    );
    await bad.start({ waitRunning: false });
    const status = await waitFor(
      'both sinks to fail',
      async () => {
        const body: StatusBody = await bad.status();
        return body.sinks.badpass!.state === 'failed' && body.sinks.badca!.state === 'failed'
          ? body
          : undefined;
      },
      60_000,
      bad.logFile,
    );
    assert.equal(status.sinks.badpass!.last_error!.code, 'PGRELAY_KAFKA_AUTH');
    assert.match(status.sinks.badpass!.last_error!.message, /SASL authentication failed/);
    assert.equal(status.sinks.badpass!.last_error!.config_key, 'sinks.badpass.sasl.password');
    assert.equal(status.sinks.badca!.last_error!.code, 'PGRELAY_KAFKA_TLS');
    assert.match(status.sinks.badca!.last_error!.message, /tls\.ca_file/);
    assert.equal(status.sinks.badca!.last_error!.config_key, 'sinks.badca.tls.ca_file');
  });
});
