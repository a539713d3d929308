import type { SinkConfig } from '../config/schema.js';
import type { Sink, SinkContext, SinkSettings } from '../core/sink.js';
import { KafkaSink } from './kafka/sink.js';
import { StubSink } from './stub/sink.js';

export function createSink(
  name: string,
  config: SinkConfig,
  settings: SinkSettings,
  context: SinkContext,
): Sink {
  switch (config.type) {
    case 'kafka':
      return new KafkaSink(name, config, settings, context);
    case 'stub':
      return new StubSink(name, config, settings, context);
  }
}
