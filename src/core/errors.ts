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

/** True when the component that met this error should retry rather than stop. */
export function isRetriable(error: unknown): boolean {
  return error instanceof PgRelayError ? error.retriable : true;
}

export function errorMessage(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}

export function errorCode(error: unknown): string | undefined {
  if (error instanceof PgRelayError) return error.code;
  const code = (error as { code?: unknown } | null)?.code;
  return typeof code === 'string' ? code : undefined;
}
