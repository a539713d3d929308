/**
 * Every error pgrelay raises on purpose is a PgRelayError with a stable code, so logs, /status and
 * tests can tell failures apart without parsing messages.
 */
export class PgRelayError extends Error {
  readonly code: string;
  /** A retriable error makes a component retry with backoff; anything else stops it (state "failed"). */
  readonly retriable: boolean;

  constructor(code: string, message: string, options: { cause?: unknown; retriable?: boolean } = {}) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.name = new.target.name;
    this.code = code;
    this.retriable = options.retriable ?? false;
  }
}

/** Bad configuration or command-line usage: exit code 2. */
export class ConfigError extends PgRelayError {
  constructor(message: string) {
    super('PGRELAY_CONFIG', message);
  }
}

/**
 * Socket-level failures (Node's system error codes): the other side is unreachable for now, so a
 * retry may succeed.
 */
const NETWORK_CODES = new Set([
  'ECONNREFUSED',
  'ECONNRESET',
  'ECONNABORTED',
  'EPIPE',
  'ETIMEDOUT',
  'EHOSTUNREACH',
  'EHOSTDOWN',
  'ENETUNREACH',
  'ENETDOWN',
  'ENOTFOUND',
  'EAI_AGAIN',
]);

/** Whether `error` (or what caused it) is a socket failure that a retry may get past. */
export function isNetworkError(error: unknown): boolean {
  for (let e = error as { code?: unknown; cause?: unknown } | null | undefined; e; e = e.cause as typeof e) {
    if (typeof e.code === 'string' && NETWORK_CODES.has(e.code)) return true;
    if (e.cause === e) break;
  }
  return false;
}

/** Certificate problems Node's TLS reports: a config fix (the CA to trust), never a retry. */
const CERTIFICATE_CODES = new Set([
  'UNABLE_TO_VERIFY_LEAF_SIGNATURE',
  'UNABLE_TO_GET_ISSUER_CERT_LOCALLY',
  'DEPTH_ZERO_SELF_SIGNED_CERT',
  'SELF_SIGNED_CERT_IN_CHAIN',
  'CERT_HAS_EXPIRED',
  'CERT_UNTRUSTED',
  'ERR_TLS_CERT_ALTNAME_INVALID',
]);

/** The TLS certificate error behind `error`, if there is one. */
export function certificateError(error: unknown): Error | undefined {
  for (let e = error as { code?: unknown; cause?: unknown } | null | undefined; e; e = e.cause as typeof e) {
    if (typeof e.code === 'string' && CERTIFICATE_CODES.has(e.code)) return e as unknown as Error;
    if (e.cause === e) break;
  }
  return undefined;
}

/**
 * A failure nobody named: a bug in pgrelay or a library (a TypeError, say), or input the code did not
 * expect. Retrying cannot fix it, so the component stops, loudly, with the original in `cause`.
 */
export class InternalError extends PgRelayError {
  constructor(where: string, cause: unknown) {
    super('PGRELAY_INTERNAL', `${where}: unexpected error: ${errorMessage(cause)}`, { cause });
  }
}

/**
 * The named error a component acts on: a PgRelayError as it is; a socket failure as retriable
 * PGRELAY_UNAVAILABLE; anything else as InternalError (not retriable). Components with their own
 * vocabulary (server errors, protocol errors) classify first and fall back to this.
 */
export function classifyError(error: unknown, where: string): PgRelayError {
  if (error instanceof PgRelayError) return error;
  if (isNetworkError(error))
    return new PgRelayError('PGRELAY_UNAVAILABLE', `${where}: ${errorMessage(error)}`, {
      cause: error,
      retriable: true,
    });
  return new InternalError(where, error);
}

/** True when the component that met this error should retry rather than stop. */
export function isRetriable(error: unknown): boolean {
  return error instanceof PgRelayError ? error.retriable : isNetworkError(error);
}

export function errorMessage(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}

export function errorCode(error: unknown): string | undefined {
  if (error instanceof PgRelayError) return error.code;
  const code = (error as { code?: unknown } | null)?.code;
  return typeof code === 'string' ? code : undefined;
}
