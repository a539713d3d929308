import type { Logger } from 'pino';
import type { Handler } from '../core/handler.js';
import type { ExactlyOnceLink } from '../kafka/exactly-once.js';
import type { Sink, SinkContext, SinkSettings } from '../core/sink.js';
import type { Source, SourceContext } from '../core/source.js';
import { createEnrich } from '../handlers/enrich/handler.js';
import { loadModuleHandler } from '../handlers/module/handler.js';
import { createPassthrough } from '../handlers/passthrough/handler.js';
import { createPsqlStreamer } from '../handlers/psql-streamer/handler.js';
import { KafkaSink } from '../sinks/kafka/sink.js';
import { StubSink } from '../sinks/stub/sink.js';
import { KafkaSource } from '../sources/kafka/source.js';
import { defaultSlot } from '../sources/postgres/config.js';
import { PostgresSource } from '../sources/postgres/source.js';
import type { StateStore } from '../state/store.js';
import { countBuffersByWhatTheyHold } from './buffer-accounting.js';
import type { HandlerConfig, SinkConfig, SourceConfig } from './config-schema.js';

/** The kinds of component a config names, each built from its own section. */

export function createSource(
  name: string,
  config: SourceConfig,
  context: SourceContext,
  state: StateStore,
  link?: ExactlyOnceLink,
): Source {
  switch (config.type) {
    case 'postgres':
      return new PostgresSource(name, config, config.slot ?? defaultSlot(name), context, state);
    case 'kafka':
      countBuffersByWhatTheyHold();
      return new KafkaSource(name, config, context, link);
  }
}

export function createSink(
  name: string,
  config: SinkConfig,
  settings: SinkSettings,
  context: SinkContext,
  link?: ExactlyOnceLink,
): Sink {
  switch (config.type) {
    case 'kafka':
      return new KafkaSink(name, config, settings, context, link);
    case 'stub':
      return new StubSink(name, config, settings, context);
  }
}

/** The handler a sink's `handlers` entry names: a [handlers.x] table or a built-in type. */
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
