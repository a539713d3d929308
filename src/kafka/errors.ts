import { PgRelayError, errorMessage } from '../core/errors.js';

/**
 * pgrelay's names for what goes wrong between it and Kafka. Each names what to fix; only an
 * unavailable broker (or a broker answer that says "try again") is retried.
 */
export class KafkaAuthError extends PgRelayError {
  constructor(where: string, cause: unknown) {
    super(
      'PGRELAY_KAFKA_AUTH',
      `${where}: SASL authentication failed: ${errorMessage(innermost(cause))} (check sasl.mechanism, sasl.username, sasl.password)`,
      { cause },
    );
  }
}

export class KafkaTlsError extends PgRelayError {
  constructor(where: string, cause: unknown) {
    super(
      'PGRELAY_KAFKA_TLS',
      `${where}: the broker's TLS certificate is not trusted: ${errorMessage(innermost(cause))} (set tls.ca_file to the CA that signed it)`,
      { cause },
    );
  }
}

export class KafkaForbiddenError extends PgRelayError {
  constructor(where: string, id: string, cause: unknown) {
    super('PGRELAY_KAFKA_FORBIDDEN', `${where}: Kafka refused: ${id} (grant pgrelay's principal access)`, {
      cause,
    });
  }
}

/** A topic that does not exist: retried, as an operator may create it; `hint` says what else to do. */
export class UnknownTopicError extends PgRelayError {
  constructor(
    readonly topic: string,
    where: string,
    hint = 'create it',
    cause?: unknown,
  ) {
    super(
      'PGRELAY_KAFKA_UNKNOWN_TOPIC',
      `${where}: topic ${topic} does not exist (${hint}); retrying until it does`,
      {
        cause,
        retriable: true,
      },
    );
  }
}

/** Kafka refused something retrying cannot fix (an invalid record, an unsupported version...). */
export class KafkaRejectedError extends PgRelayError {
  constructor(where: string, id: string, cause: unknown) {
    super('PGRELAY_KAFKA_REJECTED', `${where}: Kafka refused: ${id}: ${errorMessage(innermost(cause))}`, {
      cause,
    });
  }
}

export class KafkaUnavailableError extends PgRelayError {
  constructor(where: string, cause: unknown) {
    super('PGRELAY_KAFKA_UNAVAILABLE', `${where}: ${describe(cause)}`, { cause, retriable: true });
  }
}

/** A failure of pgrelay's own code (a TypeError...), not of Kafka: retrying cannot fix it. */
export class KafkaInternalError extends PgRelayError {
  constructor(where: string, cause: unknown) {
    super('PGRELAY_INTERNAL', `${where}: internal error: ${errorMessage(cause)}`, { cause });
  }
}

/** Broker answers that retrying cannot fix: an operator has to grant access. */
const FORBIDDEN = new Set([
  'TOPIC_AUTHORIZATION_FAILED',
  'GROUP_AUTHORIZATION_FAILED',
  'CLUSTER_AUTHORIZATION_FAILED',
  'TRANSACTIONAL_ID_AUTHORIZATION_FAILED',
]);

/** Certificate problems Node's TLS reports: a config fix (tls.ca_file), never a retry. */
const TLS_CODES = new Set([
  'UNABLE_TO_VERIFY_LEAF_SIGNATURE',
  'UNABLE_TO_GET_ISSUER_CERT_LOCALLY',
  'DEPTH_ZERO_SELF_SIGNED_CERT',
  'SELF_SIGNED_CERT_IN_CHAIN',
  'CERT_HAS_EXPIRED',
  'CERT_UNTRUSTED',
  'ERR_TLS_CERT_ALTNAME_INVALID',
]);

interface Node {
  code?: unknown;
  apiId?: unknown;
  canRetry?: unknown;
  message?: unknown;
  cause?: unknown;
  errors?: unknown;
}

/** Every error in a chain: the error, its causes, and the members of aggregates, depth first. */
function* chain(error: unknown, depth = 0): Generator<Node> {
  if (error === null || typeof error !== 'object' || depth > 8) return;
  const node = error as Node;
  yield node;
  if (Array.isArray(node.errors)) for (const member of node.errors) yield* chain(member, depth + 1);
  if (node.cause !== undefined) yield* chain(node.cause, depth + 1);
}

/** The Kafka protocol error (`MESSAGE_TOO_LARGE`, `REBALANCE_IN_PROGRESS`...) behind an error, if any. */
export function protocolError(error: unknown): string | undefined {
  for (const node of chain(error)) if (typeof node.apiId === 'string') return node.apiId;
  return undefined;
}

/** An error raised by the Kafka library (its codes start with PLT_KFK_), as opposed to one of ours. */
function fromLibrary(error: unknown): boolean {
  for (const node of chain(error))
    if (typeof node.code === 'string' && node.code.startsWith('PLT_KFK_')) return true;
  return false;
}

/** The deepest cause: the library wraps a socket's or a broker's words in its own. */
function innermost(error: unknown): unknown {
  let last: unknown = error;
  for (const node of chain(error)) last = node;
  return last;
}

function describe(error: unknown): string {
  const outer = errorMessage(error);
  const inner = errorMessage(innermost(error));
  return inner === outer ? outer : `${outer} (${inner})`;
}

/**
 * pgrelay's named error for anything the Kafka client raised; `where` says which component and
 * broker list. PgRelayErrors pass unchanged. Errors that did not come from the Kafka library or a
 * socket are pgrelay's own bugs: they stop the component instead of being retried as an outage.
 */
export function classifyKafkaError(error: unknown, where: string): PgRelayError {
  if (error instanceof PgRelayError) return error;
  const nodes = [...chain(error)];
  for (const node of nodes) {
    if (node.apiId === 'SASL_AUTHENTICATION_FAILED' || node.code === 'PLT_KFK_AUTHENTICATION')
      return new KafkaAuthError(where, error);
    if (typeof node.code === 'string' && TLS_CODES.has(node.code)) return new KafkaTlsError(where, error);
  }
  const id = protocolError(error);
  if (id !== undefined && FORBIDDEN.has(id)) return new KafkaForbiddenError(where, id, error);
  const unknownTopic = nodes.find(
    (n) => typeof n.message === 'string' && /^Unknown topic (.+)\.$/.test(n.message),
  );
  if (unknownTopic !== undefined)
    return new UnknownTopicError((unknownTopic.message as string).slice(14, -1), where, undefined, error);
  if (!fromLibrary(error) && !isSocketError(error)) return new KafkaInternalError(where, error);
  // The library marks what retrying cannot fix; a network failure is always worth another try.
  const final = nodes.find((n) => n.canRetry === false && typeof n.apiId === 'string');
  if (final !== undefined) return new KafkaRejectedError(where, final.apiId as string, error);
  return new KafkaUnavailableError(where, error);
}

/** Node's own socket failures (ECONNREFUSED, ETIMEDOUT...) carry a syscall. */
function isSocketError(error: unknown): boolean {
  return [...chain(error)].some((n) => typeof (n as { syscall?: unknown }).syscall === 'string');
}
