import type { RelayEvent } from '../../core/event.js';

/** Where an event came from, as dead-letter headers: a change's source, LSN, id and table; a relayed message's topic, partition, offset. */
export function eventCoordinates(event: RelayEvent | undefined): Record<string, string> {
  if (event === undefined) return {};
  if (event.action === 'raw') {
    return {
      'pgrelay-source': event.source,
      'pgrelay-source-topic': event.topic,
      'pgrelay-source-partition': String(event.partition),
      'pgrelay-source-offset': event.offset,
    };
  }
  return {
    'pgrelay-source': event.source,
    'pgrelay-lsn': event.lsn,
    'pgrelay-id': event.id,
    'pgrelay-table': `${event.schema ?? ''}.${event.table ?? ''}`,
  };
}
