import type { RelayEvent } from './event.js';
import {
  type Handler,
  type HandlerContext,
  type HandlerOutput,
  type SinkRecord,
  HandlerError,
  isEvent,
  recordProblem,
} from './handler.js';
import { plainEvent } from './read-event.js';

/**
 * Runs a sink's handlers in order. Each handler sees the events that reach it, in runs of consecutive
 * events, so records produced earlier keep their place and a row's changes keep their order. Events
 * left after the last handler are encoded by the final handler (passthrough).
 */
export class HandlerChain {
  constructor(
    private readonly handlers: readonly Handler[],
    private readonly encoder: Handler,
  ) {}

  get names(): string[] {
    return this.handlers.map((h) => h.name);
  }

  /**
   * Runs every handler over `events`. A failure is a HandlerError naming the handler and the event
   * of `events` it traces back to (found by running the chain again one event at a time), never a
   * copy an earlier handler made of it, so the sink can set exactly that event aside.
   */
  async run(events: RelayEvent[], context: HandlerContext): Promise<SinkRecord[]> {
    try {
      return await this.runAll(events, context);
    } catch (error) {
      if (!(error instanceof HandlerError)) throw error;
      throw await this.culprit(events, context, error);
    }
  }

  private async runAll(events: RelayEvent[], context: HandlerContext): Promise<SinkRecord[]> {
    // Handlers may copy and change events: they get plain objects.
    let outputs: HandlerOutput[] = this.handlers.length === 0 ? events : events.map(plainEvent);
    for (const handler of this.handlers) {
      outputs = await this.apply(handler, outputs, context);
    }
    // The encoder (passthrough, on the hot path of every sink) writes records of the events it is
    // given; only that it left none as an event is checked.
    outputs =
      this.handlers.length === 0
        ? await this.encode(events, context)
        : await this.apply(this.encoder, outputs, context);
    for (const output of outputs) {
      if (isEvent(output)) {
        throw new HandlerError(this.encoder.name, output, new Error('the final handler returned an event'));
      }
    }
    return outputs as SinkRecord[];
  }

  private async culprit(
    events: RelayEvent[],
    context: HandlerContext,
    failure: HandlerError,
  ): Promise<HandlerError> {
    if (events.length > 1) {
      for (const event of events) {
        try {
          await this.runAll([event], context);
        } catch (error) {
          if (!(error instanceof HandlerError)) throw error;
          return new HandlerError(error.handler, event, error.cause);
        }
      }
    }
    // One event, or a failure that only the batch as a whole provokes: all of it is at fault.
    return new HandlerError(failure.handler, events.length === 1 ? events[0] : undefined, failure.cause);
  }

  async close(): Promise<void> {
    for (const handler of this.handlers) await handler.close?.();
  }

  private async apply(
    handler: Handler,
    outputs: HandlerOutput[],
    context: HandlerContext,
  ): Promise<HandlerOutput[]> {
    if (outputs.every(isEvent)) return this.call(handler, outputs, context);
    const result: HandlerOutput[] = [];
    let run: RelayEvent[] = [];
    const flush = async () => {
      if (run.length > 0) result.push(...(await this.call(handler, run, context)));
      run = [];
    };
    for (const output of outputs) {
      if (isEvent(output)) {
        run.push(output);
      } else {
        await flush();
        result.push(output);
      }
    }
    await flush();
    return result;
  }

  private async call(
    handler: Handler,
    events: RelayEvent[],
    context: HandlerContext,
  ): Promise<HandlerOutput[]> {
    if (handler === this.encoder) return this.encode(events, context);
    let outputs: unknown;
    try {
      outputs = await handler.process(events, context);
    } catch (error) {
      throw new HandlerError(handler.name, undefined, error);
    }
    return this.validated(handler, outputs);
  }

  /** The final encoding: records from events, not checked field by field like a user's handler's. */
  private async encode(events: RelayEvent[], context: HandlerContext): Promise<HandlerOutput[]> {
    try {
      return await this.encoder.process(events, context);
    } catch (error) {
      throw new HandlerError(this.encoder.name, undefined, error);
    }
  }

  private validated(handler: Handler, outputs: unknown): HandlerOutput[] {
    const rejected = (message: string) => new HandlerError(handler.name, undefined, new Error(message));
    if (!Array.isArray(outputs)) throw rejected('process() must return an array');
    for (const output of outputs as unknown[]) {
      if (
        typeof output !== 'object' ||
        output === null ||
        !('value' in output || isEvent(output as HandlerOutput))
      ) {
        throw rejected('process() returned an item that is neither an event nor a record ({key, value})');
      }
      if (isEvent(output as HandlerOutput)) continue;
      const problem = recordProblem(output as Record<string, unknown>);
      if (problem !== undefined) throw rejected(`process() returned a record no sink can write: ${problem}`);
    }
    return outputs as HandlerOutput[];
  }
}
