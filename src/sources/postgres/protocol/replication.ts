import type pg from 'pg';
import { LogicalReplicationService } from 'pg-logical-replication';
import { errorMessage } from '../../../core/errors.js';
import { type Lsn, formatLsn, lsnToBigInt } from '../../../core/lsn.js';
import { PG_EPOCH_MICROS } from './pgoutput.js';

export interface StreamOptions {
  slot: string;
  publication: string;
  /** Where decoding starts; 0 = the slot's confirmed position. */
  startLsn: Lsn;
  /** Ask pgoutput for logical decoding messages (needed for heartbeats and `messages = true`). */
  messages: boolean;
}

export interface StreamHandlers {
  /** One pgoutput message; called in order, the next only after the returned promise settles. */
  onMessage(message: Buffer): void | Promise<void>;
  /** The server's keepalive: everything decoded before `walEnd` has been sent to us already. */
  onKeepalive(walEnd: Lsn, replyRequested: boolean): void;
}

/**
 * A logical replication stream over pg-logical-replication 2.5.0, used for the connection, the
 * CopyBoth protocol and flow control only: its timer acknowledges the last *received* LSN and its
 * acknowledge() confirms lsn+1, so acknowledgement is off and every standby status is ours
 * (sendStatus). Messages reach us as raw pgoutput bytes; pgoutput.ts decodes them.
 */
export class ReplicationStream {
  private readonly service: LogicalReplicationService;
  private readonly plugin: RawPgoutput;
  /** Messages received from the socket but not yet handled (the flow-control queue). */
  private queued = 0;

  constructor(clientConfig: pg.ClientConfig) {
    this.service = new LogicalReplicationService(clientConfig, {
      acknowledge: { auto: false, timeoutSeconds: 0 },
      flowControl: { enabled: true },
    });
    this.plugin = new RawPgoutput(() => this.queued++);
  }

  /** True while received messages wait to be handled. */
  get backlog(): boolean {
    return this.queued > 0;
  }

  /**
   * Streams until stop() or an error. Resolves when stopped, rejects with the server's or the
   * connection's error. `onStarted` runs once the server accepted START_REPLICATION.
   */
  async run(options: StreamOptions, handlers: StreamHandlers, onStarted: () => void): Promise<void> {
    let failure: unknown;
    let fail: (error: unknown) => void = () => undefined;
    const failed = new Promise<never>((_resolve, reject) => {
      fail = (error) => {
        failure ??= error;
        reject(error instanceof Error ? error : new Error(String(error)));
      };
    });
    failed.catch(() => undefined);
    this.service.on('error', (error: Error) => fail(error));
    this.service.on('start', onStarted);
    this.service.on('heartbeat', (lsn: string, _timestamp: number, shouldRespond: boolean) => {
      handlers.onKeepalive(lsnToBigInt(lsn), shouldRespond);
    });
    this.service.on('data', async (_lsn: string, message: Buffer) => {
      this.queued--;
      if (failure !== undefined) return;
      try {
        await handlers.onMessage(message);
      } catch (error) {
        // The library would go on with the next queued message; stop instead, before anything later
        // can be handed out past the one that failed.
        fail(error);
        await this.service.stop().catch(() => undefined);
      }
    });
    this.plugin.configure(options);
    const plugin = this.plugin as unknown as Parameters<LogicalReplicationService['subscribe']>[0];
    await Promise.race([this.service.subscribe(plugin, options.slot, formatLsn(options.startLsn)), failed]);
    if (failure !== undefined) throw failure instanceof Error ? failure : new Error(errorMessage(failure));
  }

  /**
   * A standby status update. `written` is what we received (so the server does not ping us in a
   * loop), `flushed` what PostgreSQL may treat as consumed: the slot's confirmed_flush_lsn.
   */
  sendStatus(written: Lsn, flushed: Lsn, replyRequested = false): boolean {
    const connection = this.plugin.connection;
    if (connection === undefined) return false;
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
    this.plugin.connection = undefined;
    await this.service.destroy();
  }
}

interface CopyConnection {
  sendCopyFromChunk(chunk: Buffer): void;
}

/**
 * The library's plugin contract (name, parse, start): hands messages through undecoded and issues
 * START_REPLICATION with our options.
 */
class RawPgoutput {
  connection: CopyConnection | undefined;
  private streamOptions: StreamOptions | undefined;

  constructor(private readonly onReceive: () => void) {}

  get name(): string {
    return 'pgoutput';
  }

  configure(options: StreamOptions): void {
    this.streamOptions = options;
  }

  parse(buffer: Buffer): Buffer {
    this.onReceive();
    return buffer;
  }

  start(client: pg.Client, slotName: string, lastLsn: string): Promise<unknown> {
    const options = this.streamOptions!;
    this.connection = (client as unknown as { connection: CopyConnection }).connection;
    const parameters = [
      `proto_version '1'`,
      `publication_names ${literal(quoteIdent(options.publication))}`,
      `messages '${options.messages}'`,
    ];
    return client.query(
      `START_REPLICATION SLOT ${quoteIdent(slotName)} LOGICAL ${lastLsn} (${parameters.join(', ')})`,
    );
  }
}

export function quoteIdent(name: string): string {
  return `"${name.replace(/"/g, '""')}"`;
}

export function literal(text: string): string {
  return `'${text.replace(/'/g, "''")}'`;
}
