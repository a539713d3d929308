import type { ChildProcess } from 'node:child_process';
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import pg from 'pg';
import { freePort, startService, stopProcess, tempDir, waitFor } from './processes.js';

/** Debian's PostgreSQL binaries: $PGRELAY_PG_BIN, or the newest /usr/lib/postgresql/N/bin. */
export function postgresBin(): string {
  if (process.env.PGRELAY_PG_BIN) return process.env.PGRELAY_PG_BIN;
  const root = '/usr/lib/postgresql';
  const versions = fs.existsSync(root)
    ? fs
        .readdirSync(root)
        .filter((v) => /^\d+$/.test(v))
        .sort((a, b) => Number(b) - Number(a))
    : [];
  if (versions.length === 0)
    throw new Error("PostgreSQL server binaries not found: run `make debs` (installs Debian's postgresql)");
  return path.join(root, versions[0]!, 'bin');
}

/** PostgreSQL refuses to run as root; the harness then runs it as the "postgres" system user. */
function asServerUser(command: string, args: string[]): [string, string[]] {
  if (process.getuid?.() !== 0) return [command, args];
  return ['setpriv', ['--reuid=postgres', '--regid=postgres', '--init-groups', '--', command, ...args]];
}

export interface PostgresOptions {
  /** Extra postgresql.conf settings. */
  settings?: Record<string, string>;
}

/**
 * How long a test's statement may take: bulk inserts on a loaded machine take seconds, a statement
 * waiting for a lock pgrelay never lets go of would take forever.
 */
export const STATEMENT_MS = 300_000;

/** Talks to a test cluster as its superuser; works from any process that knows the port. */
export class PostgresHandle {
  constructor(readonly port: number) {}

  get url(): string {
    return `postgres://postgres@127.0.0.1:${this.port}/postgres`;
  }

  urlFor(database: string, user = 'postgres'): string {
    return `postgres://${user}@127.0.0.1:${this.port}/${database}`;
  }

  /** Runs SQL on `database` (a fresh connection each call) and returns the rows. */
  async query<R extends pg.QueryResultRow = Record<string, unknown>>(
    sql: string,
    params: unknown[] = [],
    database = 'postgres',
  ): Promise<R[]> {
    const client = new pg.Client({
      connectionString: this.urlFor(database),
      connectionTimeoutMillis: STATEMENT_MS,
      query_timeout: STATEMENT_MS,
    });
    await client.connect();
    try {
      return (await client.query<R>(sql, params)).rows;
    } catch (error) {
      if ((error as Error).message !== 'Query read timeout') throw error;
      throw new Error(`timed out after ${STATEMENT_MS} ms waiting for PostgreSQL to run: ${sql}`);
    } finally {
      await client.end();
    }
  }

  /**
   * Makes `role` log in with its password (scram-sha-256) over TCP, where the cluster trusts everyone
   * else: a line before the others in pg_hba.conf, and the server told to reload it. Resolves once a
   * wrong password is refused.
   */
  async requirePassword(role: string): Promise<void> {
    const [{ hba_file: file }] = (await this.query<{ hba_file: string }>('SHOW hba_file')) as [
      { hba_file: string },
    ];
    const line = `host all ${role} 127.0.0.1/32 scram-sha-256\n`;
    fs.writeFileSync(file, line + fs.readFileSync(file, 'utf8'));
    await this.query('SELECT pg_reload_conf()');
    await waitFor(
      `PostgreSQL to ask ${role} for a password`,
      async () => {
        const client = new pg.Client({
          connectionString: `postgres://${role}:wrong@127.0.0.1:${this.port}/postgres`,
        });
        try {
          await client.connect();
          return undefined;
        } catch (error) {
          return (error as { code?: string }).code === '28P01' ? true : undefined;
        } finally {
          await client.end().catch(() => undefined);
        }
      },
      30_000,
    );
  }

  /** A new database, so tests sharing one cluster do not see each other's tables. */
  async createDatabase(prefix: string): Promise<string> {
    const name = `${prefix}_${Math.random().toString(36).slice(2, 8)}`
      .toLowerCase()
      .replace(/[^a-z0-9_]/g, '_');
    await this.query(`CREATE DATABASE ${name}`);
    return name;
  }
}

/** A throwaway PostgreSQL cluster with wal_level=logical on a free port, trust authentication. */
export class PostgresServer extends PostgresHandle {
  private child: ChildProcess | undefined;

  private constructor(
    readonly dataDir: string,
    port: number,
    readonly logFile: string,
  ) {
    super(port);
  }

  static async start(options: PostgresOptions = {}): Promise<PostgresServer> {
    const bin = postgresBin();
    const base = tempDir('pgrelay-pg-');
    const dataDir = path.join(base, 'data');
    if (process.getuid?.() === 0) execFileSync('chown', ['postgres:postgres', base]);
    const [initdb, initArgs] = asServerUser(path.join(bin, 'initdb'), [
      '-D',
      dataDir,
      '-U',
      'postgres',
      '--auth=trust',
      '--encoding=UTF8',
      '--locale=C.UTF-8',
      '--no-sync',
    ]);
    execFileSync(initdb, initArgs, { stdio: 'pipe' });
    const port = await freePort();
    const settings: Record<string, string> = {
      listen_addresses: "'127.0.0.1'",
      port: String(port),
      unix_socket_directories: `'${dataDir}'`,
      wal_level: 'logical',
      max_wal_senders: '40',
      // Tests leave their slots behind in their own databases; a whole run creates about 40.
      max_replication_slots: '200',
      max_connections: '200',
      fsync: 'off',
      full_page_writes: 'off',
      shared_buffers: '128MB',
      log_min_messages: 'warning',
      log_line_prefix: "'%m [%p] '",
      ...options.settings,
    };
    fs.appendFileSync(
      path.join(dataDir, 'postgresql.conf'),
      '\n# pgrelay test harness\n' +
        Object.entries(settings)
          .map(([k, v]) => `${k} = ${v}`)
          .join('\n') +
        '\n',
    );
    const server = new PostgresServer(dataDir, port, path.join(base, 'postgres.log'));
    if (process.getuid?.() === 0) execFileSync('chown', ['postgres:postgres', base]);
    await server.start();
    return server;
  }

  async start(): Promise<void> {
    const [command, args] = asServerUser(path.join(postgresBin(), 'postgres'), ['-D', this.dataDir]);
    this.child = startService('postgres', command, args, this.logFile);
    await waitFor('PostgreSQL to accept connections', () => this.ping(), 30_000, this.logFile);
  }

  /**
   * Shutdown with the signal `pg_ctl stop -m MODE` sends: fast (SIGINT) cuts connections and writes a
   * checkpoint, as when an operator restarts the server; immediate (SIGQUIT) exits without one, as a
   * crash does, so the next start runs crash recovery.
   */
  async stop(mode: 'fast' | 'immediate' = 'fast'): Promise<void> {
    if (this.child) await stopProcess(this.child, mode === 'fast' ? 'SIGINT' : 'SIGQUIT', 30_000);
    this.child = undefined;
  }

  async restart(mode: 'fast' | 'immediate' = 'fast'): Promise<void> {
    await this.stop(mode);
    await this.start();
  }

  async destroy(): Promise<void> {
    await this.stop();
    fs.rmSync(path.dirname(this.dataDir), { recursive: true, force: true });
  }

  private async ping(): Promise<true | undefined> {
    const client = new pg.Client({ connectionString: this.url, connectionTimeoutMillis: 2000 });
    try {
      await client.connect();
      await client.query('SELECT 1');
      return true;
    } finally {
      await client.end().catch(() => undefined);
    }
  }
}
