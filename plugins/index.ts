import type { Logger } from 'pino';
import type { HandlerConfig } from '../src/config/schema.js';
import type { Handler } from '../src/core/handler.js';
import { createEnrich } from './enrich/handler.js';
import { loadModuleHandler } from './module/handler.js';
import { createPassthrough } from './passthrough/handler.js';
import { createPsqlStreamer } from './psql-streamer/handler.js';

/** Builds the handler a sink's `handlers` entry names: a [handlers.x] table or a built-in type. */
export async function createHandler(name: string, config: HandlerConfig, log: Logger): Promise<Handler> {
  switch (config.type) {
    case 'passthrough':
      return { ...createPassthrough(), name };
    case 'psql-streamer':
      return { ...createPsqlStreamer(), name };
    case 'enrich':
      return createEnrich(name, config);
    case 'module':
      return loadModuleHandler(name, config, log.child({ handler: name }));
  }
}

export { createPassthrough };
