import pg from 'pg';
import { errorMessage } from '../../../core/errors.js';
import { type Lsn, formatLsn } from '../../../core/lsn.js';
import { PG_EPOCH_MICROS } from './pgoutput.js';

export interface StreamOptions {
  slot: string;
  /** publication_names: pgoutput sends a table's changes that any of them publishes. */
  publications: readonly string[];
  /** Where decoding starts; 0 = the slot's confirmed position. */
  startLsn: Lsn;
  /** Ask pgoutput for logical decoding messages (needed for heartbeats and `messages = true`). */
  messages: boolean;
}

export interface StreamHandlers {
  /**
   * One pgoutput message, `data` from `offset` on (XLogData's header before it: no view made per
   * message); called in order, the next only after the returned promise settles.
   */
  onMessage(data: Buffer, offset: number): void | Promise<void>;
  /** The server's keepalive: everything decoded before `walEnd` has been sent to us already. */
  onKeepalive(walEnd: Lsn, replyRequested: boolean): void;
}

/** The parts of node-postgres's connection a replication stream uses (not in its typings). */
interface ProtocolConnection {
  on(event: 'copyData', listener: (message: { chunk: Buffer }) => void): void;
  once(event: 'replicationStart', listener: () => void): void;
  sendCopyFromChunk(chunk: Buffer): void;
  stream: { pause(): void; resume(): void };
}

/** XLogData ('w') header: tag, dataStart, walEnd, sendTime. */
const XLOG_HEADER = 25;

/**
 * A logical replication stream (START_REPLICATION over a walsender connection) on node-postgres.
 * Messages of one socket read are queued and handled in order right after it (so the handler sees
 * whether more is already queued); the socket stays paused until they are, so while a handler waits
 * (backpressure) the server waits. Every standby status is ours (sendStatus): nothing is acknowledged on its own.
 *
 * Ours rather than pg-logical-replication's transport: its per-message LSN strings, queue objects,
 * promise per message (emitAsync) and automatic acknowledgement timer cost about an eighth of the
 * CPU per row on the hot path, and its acknowledge() confirms lsn+1, which can skip a transaction
 * starting right there.
 */
export class ReplicationStream {
  private client: pg.Client | undefined;
  private connection: ProtocolConnection | undefined;
  /** XLogData received and not yet handled; views into the socket's buffer, valid while paused. */
  private queue: (Buffer | undefined)[] = [];
  private head = 0;
  private draining = false;
  private reject: ((error: unknown) => void) | undefined;
  /** Set once the stream ends: stop() was called, or a message or the connection failed. */
  private stopping = false;
  private failure: unknown;

  constructor(private readonly clientConfig: pg.ClientConfig) {}

  /** True while received messages wait to be handled: more is coming at once. */
  get backlog(): boolean {
    return this.head < this.queue.length;
  }

  /**
   * Streams until stop() or an error. Resolves when stopped, rejects with the server's or the
   * connection's error. `onStarted` runs once the server accepted START_REPLICATION.
   */
  async run(options: StreamOptions, handlers: StreamHandlers, onStarted: () => void): Promise<void> {
    const client = new pg.Client({ ...this.clientConfig, replication: 'database' } as pg.ClientConfig);
    this.client = client;
    const failed = new Promise<never>((_resolve, reject) => {
      this.reject = (error) => reject(error instanceof Error ? error : new Error(errorMessage(error)));
    });
    failed.catch(() => undefined);
    client.on('error', (error) => this.fail(error));
    await client.connect();
    const connection = (client as unknown as { connection: ProtocolConnection }).connection;
    this.connection = connection;
    connection.once('replicationStart', onStarted);
    connection.on('copyData', ({ chunk }) => this.receive(chunk, handlers));
    const parameters = [
      `proto_version '1'`,
      `publication_names ${literal(options.publications.map(quoteIdent).join(','))}`,
      `messages '${options.messages}'`,
    ];
    const started = client.query(
      `START_REPLICATION SLOT ${quoteIdent(options.slot)} LOGICAL ${formatLsn(options.startLsn)} (${parameters.join(', ')})`,
    );
    try {
      await Promise.race([started, failed]);
    } catch (error) {
      // stop() ends the connection, which ends the query with an error: that one is no failure.
      if (!this.stopping || this.failure !== undefined) throw this.failure ?? error;
    }
  }

  /**
   * A standby status update. `written` is what we received (so the server does not ping us in a
   * loop), `flushed` what PostgreSQL may treat as consumed: the slot's confirmed_flush_lsn.
   */
  sendStatus(written: Lsn, flushed: Lsn, replyRequested = false): boolean {
    const connection = this.connection;
    if (connection === undefined || this.stopping) return false;
    const message = Buffer.alloc(34);
    message.write('r', 0, 'latin1');
    message.writeBigUInt64BE(written, 1);
    message.writeBigUInt64BE(flushed, 9);
    message.writeBigUInt64BE(flushed, 17);
    message.writeBigInt64BE(BigInt(Date.now()) * 1000n - PG_EPOCH_MICROS, 25);
    message.writeUInt8(replyRequested ? 1 : 0, 33);
    connection.sendCopyFromChunk(message);
    return true;
  }

  async stop(): Promise<void> {
    this.stopping = true;
    this.queue = [];
    this.head = 0;
    const client = this.client;
    this.client = undefined;
    this.connection = undefined;
    await client?.end().catch(() => undefined);
  }

  private receive(chunk: Buffer, handlers: StreamHandlers): void {
    if (this.stopping) return;
    switch (chunk[0]) {
      case 0x77 /* w: XLogData */:
        this.queue.push(chunk);
        // After the rest of this socket read is parsed, so the handler sees what else is queued.
        if (!this.draining) {
          this.draining = true;
          // Queued messages are views into pg-protocol's buffer, which it reuses for the next read
          // (moving a partial message to its start). A resumed socket emits every read it buffered
          // in one synchronous loop, before any microtask: pausing now ends that loop after this read.
          this.connection?.stream.pause();
          queueMicrotask(() => void this.drain(handlers));
        }
        return;
      case 0x6b /* k: primary keepalive */:
        handlers.onKeepalive(chunk.readBigUInt64BE(1), chunk[17] === 1);
        return;
    }
  }

  /** Handles the queued messages in order, the socket paused (receive()) until all are handled. */
  private async drain(handlers: StreamHandlers): Promise<void> {
    const connection = this.connection;
    try {
      while (this.head < this.queue.length && !this.stopping) {
        const message = this.queue[this.head]!;
        this.queue[this.head++] = undefined;
        const pending = handlers.onMessage(message, XLOG_HEADER);
        if (pending !== undefined) await pending;
      }
      this.queue = [];
      this.head = 0;
    } catch (error) {
      // Stop before anything later can be handed out past the message that failed.
      this.fail(error);
      return;
    } finally {
      this.draining = false;
    }
    if (!this.stopping) connection?.stream.resume();
  }

  private fail(error: unknown): void {
    if (this.failure !== undefined || (this.stopping && this.client === undefined)) return;
    this.failure = error;
    this.reject?.(error);
    void this.stop();
  }
}

export function quoteIdent(name: string): string {
  return `"${name.replace(/"/g, '""')}"`;
}

export function literal(text: string): string {
  return `'${text.replace(/'/g, "''")}'`;
}
