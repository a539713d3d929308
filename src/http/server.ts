import Fastify, { type FastifyReply, type FastifyRequest, LogController } from 'fastify';
import type { Logger } from 'pino';
import { type Runtime, UnknownComponentError } from '../runtime.js';

/**
 * The operator's API: /health, /status, /stats, /debug/on|off, /metrics. GET works for the debug
 * switches too, as in psql-streamer.
 */
export function createHttpServer(runtime: Runtime, log: Logger) {
  const app = Fastify({
    loggerInstance: log.child({ component: 'http' }),
    logController: new LogController({ disableRequestLogging: true }),
  });

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
    app.route({ method, url: '/debug/on', handler: debugSwitch(true) });
    app.route({ method, url: '/debug/off', handler: debugSwitch(false) });
  }

  app.get('/metrics', async (_request, reply) => {
    const body = await runtime.metrics.registry.metrics();
    return reply.type(runtime.metrics.registry.contentType).send(body);
  });

  return app;
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
