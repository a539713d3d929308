import { Sink, type SinkContext, type SinkSettings } from '../../core/sink.js';
import type { SinkRecord } from '../../core/handler.js';
import type { StubSinkConfig } from './config.js';

/**
 * Delivers nowhere: for dry runs. In "log" mode it logs one line per batch; with debug on, every sink
 * also logs each delivered record.
 */
export class StubSink extends Sink {
  constructor(
    name: string,
    private readonly config: StubSinkConfig,
    settings: SinkSettings,
    context: SinkContext,
  ) {
    super(name, 'stub', config.sources, settings, context);
  }

  protected open(): Promise<void> {
    return Promise.resolve();
  }

  protected write(records: SinkRecord[]): Promise<number> {
    let bytes = 0;
    for (const record of records) bytes += byteLength(record.value) + byteLength(record.key);
    if (this.config.mode === 'log') {
      this.log.info(
        { records: records.length, bytes },
        `stub sink ${this.name}: batch of ${records.length} records`,
      );
    }
    return Promise.resolve(bytes);
  }

  protected close(): Promise<void> {
    return Promise.resolve();
  }
}

function byteLength(value: Buffer | string | null): number {
  if (value === null) return 0;
  return typeof value === 'string' ? Buffer.byteLength(value) : value.length;
}
