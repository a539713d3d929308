import { createPassthrough } from '../../src/handlers/passthrough/handler.js';
import type { Handler, SinkRecord } from '../../src/core/handler.js';
import { HandlerChain } from '../../src/core/handler-chain.js';
import type { Logger } from '../../src/core/log.js';
import { Metrics } from '../../src/core/metrics.js';
import { Sink, type SinkSettings } from '../../src/core/sink.js';
import { waitFor, within } from '../harness/processes.js';
import { capturedLogger } from './log.js';

export interface TestSinkOptions {
  sources?: string[];
  batch?: Partial<SinkSettings['batch']>;
  bufferBytes?: number;
  handlers?: Handler[];
  log?: Logger;
}

/** Sink settings for tests: no linger and 1 ms retries unless a test asks otherwise. */
export function testSettings(options: TestSinkOptions = {}): SinkSettings {
  return {
    batch: { size: 1000, bytes: 1 << 20, lingerMs: 0, ...options.batch },
    bufferBytes: options.bufferBytes ?? 16 << 20,
    retry: { initialMs: 1, maxMs: 5 },
  };
}

export function sinkContext(options: TestSinkOptions = {}) {
  return {
    log: options.log ?? capturedLogger().log,
    logLevel: 'info',
    metrics: new Metrics(),
    chain: new HandlerChain(options.handlers ?? [], createPassthrough()),
  };
}

/**
 * A sink that records what it is asked to write. Failures queued with failNext() are thrown by the
 * next write attempts; hold() makes writes wait until the returned function is called.
 */
export class RecordingSink extends Sink {
  /** Successful writes, in order. */
  readonly writes: SinkRecord[][] = [];
  attempts = 0;
  private failures: { error: unknown; times: number }[] = [];
  private gate: Promise<void> | undefined;

  constructor(name: string, options: TestSinkOptions = {}) {
    super(name, 'recording', options.sources ?? ['db1'], testSettings(options), sinkContext(options));
  }

  /** The next `times` write attempts (after those already queued to fail) throw `error`. */
  failNext(error: unknown, times = 1): void {
    this.failures.push({ error, times });
  }

  hold(): () => void {
    let release!: () => void;
    this.gate = new Promise((resolve) => (release = resolve));
    return () => {
      this.gate = undefined;
      release();
    };
  }

  /** The ids of the events written, one array per write. */
  get writtenIds(): string[][] {
    return this.writes.map((records) => records.map((r) => (r.origin as { id: string }).id));
  }

  protected open(): Promise<void> {
    return Promise.resolve();
  }

  protected async write(records: SinkRecord[]): Promise<number> {
    this.attempts++;
    await this.gate;
    const failure = this.failures[0];
    if (failure !== undefined) {
      if (--failure.times === 0) this.failures.shift();
      throw failure.error;
    }
    this.writes.push(records);
    return records.length;
  }

  protected close(): Promise<void> {
    return Promise.resolve();
  }
}

/** How long a unit test waits for something in-process: far more than it takes on a loaded machine. */
export const UNIT_WAIT_MS = 10_000;

/** Lets the event loop run until `condition` holds; fails after `timeoutMs` saying it waited for `what`. */
export async function until(what: string, condition: () => boolean, timeoutMs = UNIT_WAIT_MS): Promise<void> {
  await waitFor(what, () => Promise.resolve(condition() || undefined), timeoutMs);
}

/** A stop deadline that never passes. */
const NO_DEADLINE = new AbortController().signal;

/**
 * Stops `sink`, by default with no deadline of its own (it delivers everything first); fails if the
 * stop takes longer than a unit test waits.
 */
export function stopped(sink: Sink, deadline: AbortSignal = NO_DEADLINE): Promise<void> {
  return within(`sink ${sink.name} to stop`, sink.stop(deadline), UNIT_WAIT_MS);
}

/** A stop deadline `ms` from now; unlike AbortSignal.timeout() its timer keeps the test process alive. */
export function deadlineIn(ms: number): AbortSignal {
  const controller = new AbortController();
  setTimeout(() => controller.abort(new Error('deadline')), ms);
  return controller.signal;
}
