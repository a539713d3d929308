import type { SourceConfig } from '../config/schema.js';
import { defaultSlot } from '../config/load.js';
import type { Source, SourceContext } from '../core/source.js';
import { KafkaSource } from './kafka/source.js';
import { PostgresSource } from './postgres/source.js';

export function createSource(name: string, config: SourceConfig, context: SourceContext): Source {
  switch (config.type) {
    case 'postgres':
      return new PostgresSource(name, config, config.slot ?? defaultSlot(name), context);
    case 'kafka':
      return new KafkaSource(name, config, context);
  }
}
