import { pathToFileURL } from 'node:url';
import type { Logger } from 'pino';
import { ConfigError, errorMessage } from '../../core/errors.js';
import type { Handler } from '../../core/handler.js';
import type { ModuleConfig } from './config.js';

/** What a user's handler module exports (see plugins/examples/). */
export interface HandlerModule {
  createHandler(
    options: Record<string, unknown>,
    context: { name: string; log: Logger },
  ): Handler | Promise<Handler>;
}

/** Loads a user's handler module; a module that cannot be loaded is a config error naming its path. */
export async function loadModuleHandler(name: string, config: ModuleConfig, log: Logger): Promise<Handler> {
  const where = `handlers.${name}.path`;
  let loaded: Partial<HandlerModule> & { default?: Partial<HandlerModule> };
  try {
    loaded = (await import(pathToFileURL(config.path).href)) as typeof loaded;
  } catch (error) {
    throw new ConfigError(`${where}: cannot load ${config.path}: ${errorMessage(error)}`);
  }
  const factory = loaded.createHandler ?? loaded.default?.createHandler;
  if (typeof factory !== 'function') {
    throw new ConfigError(`${where}: ${config.path} does not export createHandler(options, context)`);
  }
  let handler: Handler;
  try {
    handler = await factory(config.options, { name, log });
  } catch (error) {
    throw new ConfigError(
      `handlers.${name}.options: createHandler() in ${config.path} failed: ${errorMessage(error)}`,
    );
  }
  if (typeof handler?.process !== 'function') {
    throw new ConfigError(
      `${where}: createHandler() in ${config.path} returned no object with process(events)`,
    );
  }
  return { name, process: handler.process.bind(handler), close: handler.close?.bind(handler) };
}
