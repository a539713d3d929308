import { createHash, timingSafeEqual } from 'node:crypto';
import Fastify, { type FastifyReply, type FastifyRequest, LogController } from 'fastify';
import type { Logger } from 'pino';
import { errorMessage } from '../core/errors.js';
import { BackfillError } from '../core/source.js';
import { type Runtime, UnknownComponentError } from '../runtime/runtime.js';
import { StateError } from '../state/store.js';

/** How a backfill that cannot start answers. */
const BACKFILL_STATUS: Record<string, number> = {
  PGRELAY_BACKFILL_UNSUPPORTED: 400,
  PGRELAY_BACKFILL_TABLE: 400,
  PGRELAY_BACKFILL_WHERE: 400,
  PGRELAY_BACKFILL_RUNNING: 409,
  PGRELAY_BACKFILL_NOT_STREAMING: 409,
};

function noSchemas(): never {
  throw new Error(
    "pgrelay's HTTP routes declare no schemas: a route with one needs fastify's compilers back",
  );
}

/**
 * The operator's API: /health, /status, /stats, /debug/on|off, /metrics, and
 * POST /sources/NAME/backfill. GET works for the debug switches too, as in psql-streamer.
 * With `[http] token` set, the endpoints that change something (debug, backfill) need it as a bearer
 * token; the read-only ones stay open to health checks and Prometheus.
 */
export function createHttpServer(runtime: Runtime, log: Logger) {
  const app = Fastify({
    loggerInstance: log.child({ component: 'http' }),
    logController: new LogController({ disableRequestLogging: true }),
    // Fastify loads and sets up ajv and fast-json-stringify unless given its schema compilers, and
    // pgrelay's routes declare no schemas: 15 to 30 ms of CPU at every start for nothing (--cpu-prof).
    schemaController: { compilersFactory: { buildValidator: noSchemas, buildSerializer: noSchemas } },
  });
  // Read at each request: a reload may set, change or remove the token.
  const authorized = bearerCheck(() => runtime.config.http.token);
  const changes = { preHandler: authorized };

  app.get('/health', () => ({ status: 'ok' }));

  app.get('/status', (_request, reply) => {
    const status = runtime.status();
    return reply.code(status.status === 'ok' ? 200 : 503).send(status);
  });

  app.get('/stats', () => runtime.stats());

  const debugSwitch = (on: boolean) => (request: FastifyRequest, reply: FastifyReply) => {
    const { component } = request.query as { component?: string };
    try {
      const switched = runtime.setDebug(on, component || undefined);
      return reply.send({ debug: on, components: switched });
    } catch (error) {
      if (error instanceof UnknownComponentError) return reply.code(404).send({ error: error.message });
      throw error;
    }
  };
  for (const method of ['GET', 'POST'] as const) {
    app.route({ method, url: '/debug/on', ...changes, handler: debugSwitch(true) });
    app.route({ method, url: '/debug/off', ...changes, handler: debugSwitch(false) });
  }

  app.post('/sources/:name/backfill', changes, async (request, reply) => {
    const { name } = request.params as { name: string };
    const body = request.body as { table?: unknown; where?: unknown } | null | undefined;
    if (
      typeof body?.table !== 'string' ||
      body.table === '' ||
      !['string', 'undefined'].includes(typeof body.where)
    ) {
      return reply
        .code(400)
        .send({ error: 'expected a JSON body {"table": "schema.table", "where": "optional SQL condition"}' });
    }
    try {
      const where = body.where as string | undefined;
      const id = await runtime.backfill(name, { table: body.table, where: where || undefined });
      return await reply.code(202).send({ id, source: name, table: body.table, where: where ?? null });
    } catch (error) {
      if (error instanceof UnknownComponentError) return reply.code(404).send({ error: error.message });
      if (error instanceof BackfillError)
        return reply
          .code(BACKFILL_STATUS[error.code] ?? 400)
          .send({ error: error.message, code: error.code });
      // Its progress could not be recorded (a full disk): nothing started.
      if (error instanceof StateError)
        return reply.code(503).send({ error: error.message, code: error.code });
      throw error;
    }
  });

  app.get('/metrics', async (_request, reply) => {
    const body = await runtime.metrics.registry.metrics();
    return reply.type(runtime.metrics.registry.contentType).send(body);
  });

  return app;
}

/**
 * A preHandler answering 401 unless the request carries `Authorization: Bearer <token>`; with no
 * token configured every request passes. Digests are compared in constant time.
 */
function bearerCheck(token: () => string | undefined) {
  return async (request: FastifyRequest, reply: FastifyReply): Promise<void> => {
    const configured = token();
    if (configured === undefined) return;
    const expected = digest(configured);
    const match = /^Bearer\s+(\S+)\s*$/i.exec(request.headers.authorization ?? '');
    if (match !== null && timingSafeEqual(digest(match[1]!), expected)) return;
    request.log.warn(
      { url: request.url, remote: request.ip },
      `refused ${request.method} ${request.url}: ${match === null ? 'no bearer token' : 'wrong bearer token'}`,
    );
    await reply.code(401).header('www-authenticate', 'Bearer realm="pgrelay"').send({
      error: 'this endpoint needs the bearer token set in [http] token or token_file',
      code: 'PGRELAY_HTTP_UNAUTHORIZED',
    });
  };
}

function digest(text: string): Buffer {
  return createHash('sha256').update(text).digest();
}

/** Binds to "host:port"; the error names the address (a port in use is the usual culprit). */
export async function listen(app: HttpServer, address: string): Promise<string> {
  const separator = address.lastIndexOf(':');
  const host = address.slice(0, separator).replace(/^\[|\]$/g, '');
  const port = Number(address.slice(separator + 1));
  await app.listen({ host, port });
  const bound = app.server.address();
  return typeof bound === 'object' && bound !== null ? `${bound.address}:${bound.port}` : address;
}

export type HttpServer = ReturnType<typeof createHttpServer>;

/**
 * The API where `[http] listen` says, movable by a config reload. A move closes the listener first
 * (the new address may be the same port on another interface) and, when the new address cannot be
 * bound, binds the old one again and throws: the reload is then refused as a whole.
 */
export class HttpApi {
  private app: HttpServer | undefined;
  private address = 'off';

  constructor(
    private readonly runtime: Runtime,
    private readonly log: Logger,
  ) {}

  /** Binds to `address` ("off": no API); the error names the address. Resolves with where it listens. */
  async listen(address: string): Promise<string | undefined> {
    if (address === 'off') return undefined;
    const app = createHttpServer(this.runtime, this.log);
    try {
      const bound = await listen(app, address);
      this.app = app;
      this.address = address;
      return bound;
    } catch (error) {
      await app.close();
      throw new Error(`http.listen ${address}: ${errorMessage(error)}`, { cause: error });
    }
  }

  /** Moves the API to `address`, or leaves it where it was and throws. */
  async move(address: string): Promise<void> {
    const previous = this.address;
    await this.close();
    try {
      const bound = await this.listen(address);
      this.log.info({ listen: bound ?? 'off' }, bound ? `HTTP API moved to http://${bound}` : 'HTTP API off');
    } catch (error) {
      await this.listen(previous).catch((again: unknown) =>
        this.log.error({ err: again }, `HTTP API could not return to ${previous}: ${errorMessage(again)}`),
      );
      throw error;
    }
  }

  async close(): Promise<void> {
    const app = this.app;
    this.app = undefined;
    this.address = 'off';
    await app?.close();
  }
}
