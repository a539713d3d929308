import { setTimeout as sleep } from 'node:timers/promises';
import pg from 'pg';
import { errorMessage } from '../../src/core/errors.js';
import { isTransient } from '../../src/sources/postgres/errors.js';
import { STATEMENT_MS } from '../harness/postgres.js';

/** How long a server may stay away before the load gives up on it. */
const RECONNECT_TIMEOUT_MS = 60_000;

/**
 * A connection to `dsn` that outlives server restarts, for load that runs through faults. A statement
 * cut off by a lost connection resolves undefined: whether it committed is the server's to say (read
 * it back from the database), and the next statement reconnects. Other errors are thrown.
 */
export class ReconnectingClient {
  private client: pg.Client | undefined;
  private closed = false;
  /** Statements that were cut off. */
  lost = 0;

  constructor(private readonly dsn: string) {}

  async query<R extends pg.QueryResultRow = Record<string, unknown>>(
    sql: string,
    params: unknown[] = [],
  ): Promise<pg.QueryResult<R> | undefined> {
    const client = await this.connected();
    if (client === undefined) return undefined;
    try {
      return await client.query<R>(sql, params);
    } catch (error) {
      if (!isTransient(error)) throw error;
      this.lost++;
      this.drop(client);
      return undefined;
    }
  }

  async end(): Promise<void> {
    this.closed = true;
    const client = this.client;
    this.client = undefined;
    await client?.end().catch(() => undefined);
  }

  /** The open connection, or a new one once the server accepts it again; undefined after end(). */
  private async connected(): Promise<pg.Client | undefined> {
    const deadline = Date.now() + RECONNECT_TIMEOUT_MS;
    while (this.client === undefined && !this.closed) {
      const client = new pg.Client({
        connectionString: this.dsn,
        connectionTimeoutMillis: 2000,
        query_timeout: STATEMENT_MS,
      });
      // A server that goes away emits 'error' on an idle client; the next statement notices it.
      client.on('error', () => this.drop(client));
      try {
        await client.connect();
        this.client = client;
      } catch (error) {
        if (!isTransient(error) || Date.now() > deadline)
          throw new Error(
            `the server at ${this.dsn} did not accept a connection again: ${errorMessage(error)}`,
            {
              cause: error,
            },
          );
        await sleep(200);
      }
    }
    return this.client;
  }

  private drop(client: pg.Client): void {
    if (this.client === client) this.client = undefined;
    client.end().catch(() => undefined);
  }
}
