import type { Config } from '../runtime/config-schema.js';
import type pg from 'pg';
import { ConfigError, errorMessage } from '../core/errors.js';
import { clientConfig, connect, parseDsn } from '../sources/postgres/protocol/dsn.js';
import { formatLsn, isLsn, lsnToBigInt } from '../core/lsn.js';
import { defaultSlot, publicationFor } from '../sources/postgres/config.js';
import {
  type LeaseHolder,
  type SharedPosition,
  holderText,
  readSharedPosition,
} from '../sources/postgres/lease.js';
import { StateFileSnapshots } from '../sources/postgres/snapshot/state-file-store.js';
import { runningOwner } from '../state/lock.js';
import { StateStore } from '../state/store.js';
import { CONFIG_HELP, type Command, configOption, loadCommandConfig } from './args.js';

/** Opens the state file for an offline change; refuses while a pgrelay runs on it. */
function openForChange(config: Config): StateStore {
  const owner = runningOwner(config.state.path);
  if (owner !== undefined) {
    throw new ConfigError(
      `pgrelay (pid ${owner}) is running on ${config.state.path}: stop it first (systemctl stop pgrelay)`,
    );
  }
  return StateStore.open(config.state.path);
}

export function requireSource(config: Config, name: string | undefined): string {
  if (name === undefined) throw new ConfigError('--source NAME is required');
  if (!(name in config.sources)) {
    throw new ConfigError(
      `${config.file}: no source is named "${name}" (known: ${Object.keys(config.sources).join(', ')})`,
    );
  }
  return name;
}

/**
 * A source with standby = true keeps its position in its database (pgrelay.positions), which the
 * state file's commands would not move: say how to do it there instead of changing nothing.
 */
function refuseStandby(config: Config, name: string, sql: (slot: string) => string): void {
  const source = config.sources[name]!;
  if (source.type !== 'postgres' || !source.standby) return;
  const slot = source.slot ?? defaultSlot(name);
  throw new ConfigError(
    `source "${name}" has standby = true: its position is in table pgrelay.positions of its database, ` +
      `not in the state file. With every pgrelay of it stopped, run there: ${sql(slot)}`,
  );
}

const positions: Command = {
  name: 'positions',
  summary: 'list the stored source positions',
  usage: `Usage: pgrelay positions [-c FILE] [--json]

Prints every stored position: source, position, when it was stored. PostgreSQL sources store the
commit end LSN of the last transaction every sink delivered, and, when the next transaction was
part-delivered, how many of its events ("+N events of X/Y", X/Y its commit LSN): a restart skips
those. The slot's confirmed_flush_lsn trails the LSN by wal_retain. Positions are read from the
state file, and for sources with standby = true from table pgrelay.positions of their database,
with a fourth column naming the instance holding the slot ("held by pgrelay HOST:PID, server
process N, since TIME", or "held by nobody"). Exit status 1 when a database cannot be read.

Options:
${CONFIG_HELP}
      --json          one JSON object per line
  -h, --help          show this help`,
  options: { ...configOption, json: { type: 'boolean' } },
  maxArguments: 0,
  async run(values) {
    const config = loadCommandConfig(values, []);
    const standby = Object.entries(config.sources).flatMap(([name, source]) =>
      source.type === 'postgres' && source.standby
        ? [{ name, dsn: source.dsn, slot: source.slot ?? defaultSlot(name) }]
        : [],
    );
    const state = StateStore.open(config.state.path);
    try {
      // A standby source's row in the state file is from before it had standby = true: not its position.
      const rows = state.list().filter((row) => !standby.some((s) => s.name === row.source));
      for (const row of rows) {
        const { transaction, delivered_events: events } = row.meta as {
          transaction?: string;
          delivered_events?: number;
        };
        process.stdout.write(
          values.json
            ? `${JSON.stringify(row)}\n`
            : `${positionLine(row.source, row.position, row.updatedAt, transaction, events)}\n`,
        );
      }
      if (rows.length === 0 && standby.length === 0 && !values.json)
        process.stderr.write(`${config.state.path}: no positions stored\n`);
    } finally {
      state.close();
    }
    let unread = 0;
    for (const source of standby) {
      try {
        const { stored, holder } = await withDatabase(source.dsn, 'pgrelay positions', (client) =>
          readSharedPosition(client, source.slot),
        );
        printShared(source.name, source.slot, stored, holder, values.json === true);
      } catch (error) {
        unread++;
        process.stderr.write(
          `${source.name}: cannot read pgrelay.positions of its database (standby = true keeps its position there): ${errorMessage(error)}\n`,
        );
      }
    }
    return unread === 0 ? 0 : 1;
  },
};

const rewind: Command = {
  name: 'rewind',
  summary: 'move a PostgreSQL source back to an earlier LSN (within wal_retain)',
  usage: `Usage: pgrelay rewind [-c FILE] --source NAME --lsn X/Y

With pgrelay stopped, moves a PostgreSQL source's stored position back to LSN X/Y, so transactions
committed after it are sent again on the next start. X/Y must not be older than the slot's
confirmed_flush_lsn (the WAL before it is gone); wal_retain sets how far back that reaches.

Options:
${CONFIG_HELP}
      --source NAME   the source to rewind
      --lsn X/Y       the new position
  -h, --help          show this help`,
  options: { ...configOption, source: { type: 'string' }, lsn: { type: 'string' } },
  maxArguments: 0,
  async run(values) {
    const config = loadCommandConfig(values, []);
    const name = requireSource(config, values.source as string | undefined);
    const source = config.sources[name]!;
    if (source.type !== 'postgres') throw new ConfigError(`source "${name}" is not a postgres source`);
    const text = values.lsn as string | undefined;
    if (text === undefined || !isLsn(text))
      throw new ConfigError('--lsn X/Y is required (an LSN in hexadecimal, e.g. 0/16B3748)');
    refuseStandby(
      config,
      name,
      (slot) =>
        `UPDATE pgrelay.positions SET lsn = '${text}', transaction_lsn = NULL, delivered_events = NULL ` +
        `WHERE slot = '${slot}' AND lsn >= '${text}'`,
    );
    const target = lsnToBigInt(text);
    const slot = source.slot ?? defaultSlot(name);
    const confirmed = await slotConfirmed(source.dsn, slot);
    if (confirmed === undefined)
      throw new ConfigError(`replication slot "${slot}" does not exist: nothing to rewind into`);
    if (target < confirmed) {
      throw new ConfigError(
        `${text} is older than slot "${slot}"'s confirmed_flush_lsn ${formatLsn(confirmed)}: that WAL is no longer kept (raise wal_retain to keep more)`,
      );
    }
    const state = openForChange(config);
    try {
      const stored = state.get(name);
      if (stored !== undefined && target > lsnToBigInt(stored.position)) {
        throw new ConfigError(
          `${text} is after the stored position ${stored.position}: rewind only moves back (skipping forward would lose changes)`,
        );
      }
      // The publication as the source resolves it, recorded as a streamed position records it.
      const { name: publication } = publicationFor(name, source.publication, stored);
      state.put(name, formatLsn(target), { slot, publication, rewoundFrom: stored?.position ?? null });
      process.stdout.write(`${name}: ${stored?.position ?? '(none)'} -> ${formatLsn(target)}\n`);
    } finally {
      state.close();
    }
    return 0;
  },
};

const resetPosition: Command = {
  name: 'reset-position',
  summary: "forget a source's stored position",
  usage: `Usage: pgrelay reset-position [-c FILE] --source NAME

With pgrelay stopped, deletes a source's stored position, and its snapshot and backfill progress. A
PostgreSQL source then starts from its slot's confirmed position, or creates the slot afresh when it
is gone (changes before that are not sent: use it after dropping a slot on purpose); with
snapshot = "initial" it takes a new snapshot first. A Kafka source's offsets live in its consumer group.

Options:
${CONFIG_HELP}
      --source NAME   the source to reset
  -h, --help          show this help`,
  options: { ...configOption, source: { type: 'string' } },
  maxArguments: 0,
  run(values) {
    const config = loadCommandConfig(values, []);
    const name = requireSource(config, values.source as string | undefined);
    refuseStandby(
      config,
      name,
      (slot) =>
        `DELETE FROM pgrelay.positions WHERE slot = '${slot}'; DELETE FROM pgrelay.snapshot_progress WHERE slot = '${slot}'`,
    );
    const state = openForChange(config);
    try {
      const removed = state.list(name);
      state.delete(name);
      const snapshots = StateFileSnapshots.forget(state, name);
      for (const row of removed) process.stdout.write(`${name}: forgot ${row.position}\n`);
      if (removed.length === 0) process.stdout.write(`${name}: no position was stored\n`);
      if (snapshots > 0) process.stdout.write(`${name}: forgot snapshot progress of ${snapshots} table(s)\n`);
    } finally {
      state.close();
    }
    return Promise.resolve(0);
  },
};

/** A standby source's position, as the state file's are printed, and who holds its slot. */
function printShared(
  name: string,
  slot: string,
  stored: SharedPosition | undefined,
  holder: LeaseHolder | undefined,
  json: boolean,
): void {
  if (json) {
    const row =
      stored === undefined
        ? { source: name, position: null, meta: { slot }, updatedAt: null }
        : {
            source: name,
            position: stored.lsn,
            meta: {
              slot,
              ...(stored.transaction_lsn === null
                ? {}
                : { transaction: stored.transaction_lsn, delivered_events: stored.delivered_events }),
              ...(stored.publication === null ? {} : { publication: stored.publication }),
              stored_by: stored.stored_by,
            },
            updatedAt: stored.updated_at,
          };
    process.stdout.write(`${JSON.stringify({ ...row, holder: holder ?? null })}\n`);
    return;
  }
  const held = `held by ${holderText(holder)}`;
  if (stored === undefined) {
    process.stderr.write(`${name}: no position stored in pgrelay.positions (slot ${slot}); ${held}\n`);
    return;
  }
  const line = positionLine(
    name,
    stored.lsn,
    stored.updated_at,
    stored.transaction_lsn ?? undefined,
    stored.delivered_events,
  );
  process.stdout.write(`${line}\t${held}\n`);
}

/** One position as `pgrelay positions` prints it: source, LSN (and the part-delivered transaction), time. */
function positionLine(
  source: string,
  lsn: string,
  updatedAt: string,
  transaction: string | undefined,
  events: number | null | undefined,
): string {
  const partial = transaction === undefined ? '' : ` +${String(events)} events of ${transaction}`;
  return `${source}\t${lsn}${partial}\t${updatedAt}`;
}

/** Runs `work` on a connection to a source's database. */
async function withDatabase<T>(
  dsn: string,
  applicationName: string,
  work: (client: pg.Client) => Promise<T>,
): Promise<T> {
  const parsed = parseDsn(dsn);
  const settings = clientConfig(parsed, { applicationName, connectTimeoutMs: 10_000 });
  const { client } = await connect(settings, parsed);
  try {
    return await work(client);
  } finally {
    await client.end();
  }
}

async function slotConfirmed(dsn: string, slot: string): Promise<bigint | undefined> {
  return withDatabase(dsn, 'pgrelay rewind', async (client) => {
    const result = await client.query<{ lsn: string | null }>(
      'SELECT confirmed_flush_lsn::text AS lsn FROM pg_replication_slots WHERE slot_name = $1',
      [slot],
    );
    const lsn = result.rows[0]?.lsn;
    return lsn ? lsnToBigInt(lsn) : undefined;
  });
}

export const POSITION_COMMANDS: readonly Command[] = [positions, rewind, resetPosition];
