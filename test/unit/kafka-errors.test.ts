import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import {
  AuthenticationError,
  MultipleErrors,
  NetworkError,
  ProtocolError,
  ResponseError,
  TimeoutError,
  UserError,
} from '@platformatic/kafka';
import { PgRelayError } from '../../src/core/errors.js';
import { classifyKafkaError, protocolError } from '../../src/kafka/errors.js';

const WHERE = 'Kafka 127.0.0.1:9092';

function socketError(code: string, message: string): Error {
  return Object.assign(new Error(message), { code, syscall: 'connect' });
}

/** The library's errors, as it raises them, become pgrelay's named ones; only outages are retried. */
describe('Kafka errors, classified', () => {
  const cases: [string, unknown, string, boolean, RegExp][] = [
    [
      'wrong SASL credentials',
      new MultipleErrors('metadata failed 1 times.', [
        new NetworkError('Connection to 127.0.0.1:9092 failed.', {
          cause: new AuthenticationError('SASL authentication failed.'),
        }),
      ]),
      'PGRELAY_KAFKA_AUTH',
      false,
      /SASL authentication failed.*check sasl\.mechanism, sasl\.username, sasl\.password/,
    ],
    [
      'an untrusted certificate',
      new NetworkError('Connection to 127.0.0.1:9093 failed.', {
        cause: socketError('SELF_SIGNED_CERT_IN_CHAIN', 'self-signed certificate in certificate chain'),
      }),
      'PGRELAY_KAFKA_TLS',
      false,
      /self-signed certificate in certificate chain \(set tls\.ca_file/,
    ],
    [
      'no permission on the topic',
      new ResponseError(0, 11, { '/responses/0': [29, null] }, {}),
      'PGRELAY_KAFKA_FORBIDDEN',
      false,
      /TOPIC_AUTHORIZATION_FAILED/,
    ],
    [
      'a missing topic',
      new UserError('Unknown topic orders.'),
      'PGRELAY_KAFKA_UNKNOWN_TOPIC',
      true,
      /topic orders does not exist \(create it\); retrying until it does/,
    ],
    [
      'a broker that cannot be reached',
      new MultipleErrors('Cannot connect to any broker.', [
        new NetworkError('Connection to 127.0.0.1:9092 failed.', {
          cause: socketError('ECONNREFUSED', 'connect ECONNREFUSED 127.0.0.1:9092'),
        }),
      ]),
      'PGRELAY_KAFKA_UNAVAILABLE',
      true,
      /Cannot connect to any broker\. \(connect ECONNREFUSED 127\.0\.0\.1:9092\)/,
    ],
    [
      'a request timing out',
      new TimeoutError('Request timed out'),
      'PGRELAY_KAFKA_UNAVAILABLE',
      true,
      /timed out/,
    ],
    [
      'a broker answer retrying cannot fix',
      new ProtocolError('INVALID_RECORD'),
      'PGRELAY_KAFKA_REJECTED',
      false,
      /INVALID_RECORD/,
    ],
    [
      "pgrelay's own bug",
      new TypeError("Cannot read properties of undefined (reading 'length')"),
      'PGRELAY_INTERNAL',
      false,
      /internal error: Cannot read properties/,
    ],
  ];

  for (const [what, error, code, retriable, message] of cases) {
    test(`${what}: ${code}${retriable ? ', retried' : ', not retried'}`, () => {
      const classified = classifyKafkaError(error, WHERE);
      assert.equal(classified.code, code);
      assert.equal(classified.retriable, retriable);
      assert.match(classified.message, message);
      assert.ok(classified.message.startsWith(WHERE));
      assert.equal(classified.cause, error);
    });
  }

  test("pgrelay's own errors pass unchanged", () => {
    const error = new PgRelayError('PGRELAY_X', 'x');
    assert.equal(classifyKafkaError(error, WHERE), error);
  });

  test('the protocol error behind an error is found through causes and aggregates', () => {
    const error = new MultipleErrors('send failed', [
      new NetworkError('x', { cause: new ResponseError(0, 11, { '/responses/0': [10, null] }, {}) }),
    ]);
    assert.equal(protocolError(error), 'MESSAGE_TOO_LARGE');
    assert.equal(protocolError(new Error('plain')), undefined);
  });
});
