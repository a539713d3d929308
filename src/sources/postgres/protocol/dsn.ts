import fs from 'node:fs';
import type { ConnectionOptions } from 'node:tls';
import pg from 'pg';

export type SslMode = 'disable' | 'allow' | 'prefer' | 'require' | 'verify-ca' | 'verify-full';
const SSL_MODES: readonly SslMode[] = ['disable', 'allow', 'prefer', 'require', 'verify-ca', 'verify-full'];

export interface ParsedDsn {
  host: string;
  port: number;
  database: string;
  user: string;
  password: string | undefined;
  sslmode: SslMode;
  sslrootcert?: string;
  sslcert?: string;
  sslkey?: string;
  options?: string;
}

/**
 * A libpq connection string, as a postgres:// URL or key=value pairs, with libpq's defaults
 * (localhost, 5432, database = user, sslmode = prefer). Unknown keys are errors.
 */
export function parseDsn(dsn: string, env: NodeJS.ProcessEnv = process.env): ParsedDsn {
  const pairs = /^postgres(ql)?:\/\//i.test(dsn) ? fromUrl(dsn) : fromKeyValue(dsn);
  const known = new Set([
    'host',
    'hostaddr',
    'port',
    'dbname',
    'user',
    'password',
    'sslmode',
    'sslrootcert',
    'sslcert',
    'sslkey',
    'options',
    'application_name',
    'connect_timeout',
  ]);
  for (const key of Object.keys(pairs)) {
    if (!known.has(key)) throw new Error(`unsupported connection parameter "${key}"`);
  }
  const sslmode = (pairs.sslmode ?? env.PGSSLMODE ?? 'prefer') as SslMode;
  if (!SSL_MODES.includes(sslmode))
    throw new Error(`sslmode "${sslmode}" is not one of ${SSL_MODES.join(', ')}`);
  const user = pairs.user ?? env.PGUSER ?? 'postgres';
  const port = Number(pairs.port ?? env.PGPORT ?? 5432);
  if (!Number.isInteger(port) || port <= 0 || port > 65535)
    throw new Error(`port "${pairs.port}" is not a port number`);
  return {
    host: pairs.hostaddr ?? pairs.host ?? env.PGHOST ?? 'localhost',
    port,
    database: pairs.dbname ?? env.PGDATABASE ?? user,
    user,
    password: pairs.password ?? env.PGPASSWORD,
    sslmode,
    sslrootcert: pairs.sslrootcert,
    sslcert: pairs.sslcert,
    sslkey: pairs.sslkey,
    options: pairs.options,
  };
}

function fromUrl(dsn: string): Record<string, string> {
  const url = new URL(dsn);
  const pairs: Record<string, string> = {};
  if (url.hostname) pairs.host = decodeURIComponent(url.hostname).replace(/^\[|\]$/g, '');
  if (url.port) pairs.port = url.port;
  if (url.username) pairs.user = decodeURIComponent(url.username);
  if (url.password) pairs.password = decodeURIComponent(url.password);
  const database = decodeURIComponent(url.pathname.replace(/^\//, ''));
  if (database) pairs.dbname = database;
  for (const [key, value] of url.searchParams) pairs[key] = value;
  return pairs;
}

function fromKeyValue(dsn: string): Record<string, string> {
  const pairs: Record<string, string> = {};
  const pattern = /\s*([A-Za-z_]+)\s*=\s*(?:'((?:[^'\\]|\\.)*)'|(\S*))/gy;
  let match: RegExpExecArray | null;
  let consumed = 0;
  while ((match = pattern.exec(dsn)) !== null) {
    pairs[match[1]!] = match[2] !== undefined ? match[2].replace(/\\(.)/g, '$1') : match[3]!;
    consumed = pattern.lastIndex;
  }
  if (dsn.slice(consumed).trim() !== '')
    throw new Error(`cannot parse connection string near "${dsn.slice(consumed).trim().slice(0, 20)}"`);
  return pairs;
}

/** TLS options for an sslmode; undefined for plain connections. */
function tlsOptions(dsn: ParsedDsn): ConnectionOptions | undefined {
  if (dsn.sslmode === 'disable' || dsn.sslmode === 'allow') return undefined;
  const options: ConnectionOptions = {
    rejectUnauthorized: dsn.sslmode === 'verify-ca' || dsn.sslmode === 'verify-full',
  };
  if (dsn.sslmode === 'verify-ca') options.checkServerIdentity = () => undefined;
  if (dsn.sslrootcert) options.ca = fs.readFileSync(dsn.sslrootcert, 'utf8');
  if (dsn.sslcert) options.cert = fs.readFileSync(dsn.sslcert, 'utf8');
  if (dsn.sslkey) options.key = fs.readFileSync(dsn.sslkey, 'utf8');
  return options;
}

/** Settings for pg.Client; `ssl` is tried first and, for sslmode=prefer, dropped if the server has no TLS. */
export function clientConfig(
  dsn: ParsedDsn,
  extra: { applicationName: string; connectTimeoutMs: number; options?: string },
): pg.ClientConfig {
  return {
    host: dsn.host,
    port: dsn.port,
    database: dsn.database,
    user: dsn.user,
    password: dsn.password,
    ssl: tlsOptions(dsn) ?? false,
    application_name: extra.applicationName,
    connectionTimeoutMillis: extra.connectTimeoutMs,
    options: [dsn.options, extra.options].filter(Boolean).join(' ') || undefined,
  };
}

/**
 * Connects with libpq's sslmode=prefer behaviour: when the server turns TLS down, again without.
 * Returns the settings that worked, so later connections (replication) use the same.
 */
export async function connect(
  config: pg.ClientConfig,
  dsn: ParsedDsn,
  onError: (error: Error) => void = () => undefined,
): Promise<{ client: pg.Client; config: pg.ClientConfig }> {
  for (;;) {
    const client = new pg.Client(config);
    client.on('error', onError);
    try {
      await client.connect();
      return { client, config };
    } catch (error) {
      await client.end().catch(() => undefined);
      const refused = /does not support SSL/i.test((error as Error)?.message ?? '');
      if (!(dsn.sslmode === 'prefer' && refused && config.ssl)) throw error;
      config = { ...config, ssl: false };
    }
  }
}
