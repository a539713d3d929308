import { setTimeout as sleep } from 'node:timers/promises';
import type { ChangeEvent } from '../src/core/event.js';
import { lsnToBigInt } from '../src/core/lsn.js';
import type { StoredPosition } from '../src/state/store.js';
import { type CdcFixture, cdcFixture, kafkaSink, postgresSource } from '../test/harness/cdc.js';
import type { ConsumedMessage } from '../test/harness/kcat.js';
import { PgrelayProcess } from '../test/harness/pgrelay.js';
import type { PostgresHandle } from '../test/harness/postgres.js';
import { waitFor } from '../test/harness/processes.js';
import { createTopics, endOffsets } from '../test/harness/topics.js';
import { ITEMS_TABLE, caughtUp, churn, itemRows } from '../test/helpers/churn.js';
import { pgrelay } from '../test/helpers/cli.js';
import { ReconnectingClient } from '../test/helpers/reconnecting-client.js';
import { BATCH_SIZE } from './fault-case.js';
import { streamingAgain } from './recovery.js';
import { type Counts, type FaultMark, type Kill, tally } from './tally.js';

/**
 * Every committed change of the items table, written by a trigger in the same transaction: the
 * database's own answer to what must arrive, whatever the load's client saw (a statement cut off by
 * a restart may or may not have committed). Deletes keep the old version, as their events do
 * (REPLICA IDENTITY FULL).
 */
const AUDIT = `
CREATE TABLE faults_audit (xid bigint NOT NULL DEFAULT txid_current(), op text NOT NULL, id int NOT NULL, version int NOT NULL);
CREATE FUNCTION faults_audit() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  IF TG_OP = 'DELETE' THEN
    INSERT INTO faults_audit (op, id, version) VALUES ('d', OLD.id, OLD.version);
  ELSE
    INSERT INTO faults_audit (op, id, version) VALUES (lower(left(TG_OP, 1)), NEW.id, NEW.version);
  END IF;
  RETURN NULL;
END $$;
CREATE TRIGGER faults_audit AFTER INSERT OR UPDATE OR DELETE ON items FOR EACH ROW EXECUTE FUNCTION faults_audit();
`;

/**
 * Whether an event lies at or before a stored position (pgrelay positions --json), by the rule the
 * stream resumes with: its transaction committed before the stored LSN, or it is one of the first
 * `delivered_events` of the part-delivered transaction (its id is `<commit lsn>:<sequence>`).
 */
export function coveredBy(stored: StoredPosition): (message: ConsumedMessage) => boolean {
  const lsn = lsnToBigInt(stored.position);
  const { transaction, delivered_events: delivered } = stored.meta as {
    transaction?: string;
    delivered_events?: number;
  };
  return (message) => {
    const event = JSON.parse(message.value ?? 'null') as Pick<ChangeEvent, 'lsn' | 'id'> | null;
    if (typeof event?.lsn !== 'string') return false;
    if (lsnToBigInt(event.lsn) < lsn) return true;
    return (
      event.lsn === transaction && Number(event.id.slice(event.id.lastIndexOf(':') + 1)) < (delivered ?? 0)
    );
  };
}

/** A change as the audit and the events both name it: action, id, version. */
function changeOf(message: ConsumedMessage): string | undefined {
  const event = JSON.parse(message.value ?? 'null') as ChangeEvent | null;
  if (event === null || !['insert', 'update', 'delete'].includes(event.action)) return undefined;
  const row = event.action === 'delete' ? event.old : event.columns;
  return row ? `${event.action[0]}:${JSON.stringify(row.id)}:${JSON.stringify(row.version)}` : undefined;
}

export interface FeedOptions {
  /** Rows in the table before the relay starts (not expected: they were there before the slot). */
  rows: number;
  postgres?: PostgresHandle;
  brokers?: string[];
  /** More keys of the Kafka sink. */
  sink?: string;
}

/**
 * An items table under mixed load (small transactions, and large ones on demand), pgrelay relaying
 * it into a one-partition topic, and the audit of every change made since the relay first ran.
 */
export class PostgresFeed {
  private load: ReturnType<typeof churn> | undefined;
  private readonly bulkClient: ReconnectingClient;

  private constructor(
    readonly fx: CdcFixture,
    readonly relay: PgrelayProcess,
    readonly topic: string,
    /** Where the WAL stood before the first audited change. */
    readonly auditStart: string,
    private readonly firstNewId: number,
  ) {
    this.bulkClient = new ReconnectingClient(fx.dsn);
  }

  static async create(prefix: string, options: FeedOptions): Promise<PostgresFeed> {
    const fx = await cdcFixture(prefix, options);
    await fx.sql(`CREATE TABLE items ${ITEMS_TABLE}`);
    await fx.sql('ALTER TABLE items REPLICA IDENTITY FULL');
    await fx.sql(itemRows('items', options.rows));
    const topic = fx.topic('items');
    await createTopics(fx.brokers, [topic], 1);
    const relay = await PgrelayProcess.create(
      postgresSource('db', fx, ['items']) +
        kafkaSink(
          'out',
          fx,
          ['db'],
          `topic_fallback = "${topic}"\nbatch_size = ${BATCH_SIZE}\n${options.sink ?? ''}`,
        ),
    );
    await relay.start();
    const [{ lsn }] = (await fx.sql('SELECT pg_current_wal_lsn()::text AS lsn')) as [{ lsn: string }];
    await fx.sql(AUDIT);
    return new PostgresFeed(fx, relay, topic, lsn, options.rows + 1);
  }

  get brokers(): string[] {
    return this.fx.brokers;
  }

  /** Small transactions, one after another, until stopLoad(). */
  startLoad(): void {
    this.load ??= churn(this.fx.dsn, 'items', this.firstNewId);
  }

  /** One transaction updating rows 1..`rows` (those the load has not deleted), beside the load. */
  async bulk(rows: number): Promise<void> {
    await this.bulkClient.query(
      'UPDATE items SET version = version + 1, payload = md5(random()::text), updated_at = now() WHERE id <= $1',
      [rows],
    );
  }

  async stopLoad(): Promise<void> {
    await this.load?.stop();
    this.load = undefined;
  }

  /** The topic's end offsets now: call it just before a fault. */
  mark(): Promise<FaultMark> {
    return endOffsets(this.brokers, this.topic);
  }

  /**
   * Once the relay is dead (kill -9): the position it had stored (`pgrelay positions`) and what the
   * topic held, to count what was in flight.
   */
  async killed(): Promise<Kill> {
    const listed = await pgrelay(['positions', '-c', this.relay.configFile, '--json']);
    const stored = listed.stdout
      .split('\n')
      .filter((line) => line !== '')
      .map((line) => JSON.parse(line) as StoredPosition)
      .find((position) => position.source === 'db');
    if (listed.code !== 0 || stored === undefined)
      throw new Error(`pgrelay positions: no position of source db (exit ${listed.code}): ${listed.stderr}`);
    return { end: await this.mark(), covered: coveredBy(stored) };
  }

  /** Waits until the relay delivered everything the server wrote; a problem when it does not. */
  async settle(): Promise<string | undefined> {
    try {
      await caughtUp(this.relay, (text) => this.fx.sql(text));
      return undefined;
    } catch (error) {
      return `did not catch up: ${(error as Error).message.split('\n')[0]}`;
    }
  }

  /**
   * Counts the topic against the audit, and what was in flight at each of `kills`; `committed`
   * narrows the changes expected to audit rows matching an SQL condition (parameters `params`).
   */
  async count(
    marks: readonly FaultMark[],
    options: { committed?: string; params?: unknown[]; kills?: readonly Kill[] } = {},
  ): Promise<Counts & { inFlight: number[] }> {
    const audit = await this.fx.sql<{ op: string; id: number; version: number }>(
      `SELECT op, id, version FROM faults_audit WHERE ${options.committed ?? 'true'}`,
      options.params ?? [],
    );
    return tally(
      this.brokers,
      this.topic,
      audit.map((a) => `${a.op}:${a.id}:${a.version}`),
      changeOf,
      marks,
      options.kills,
    );
  }

  /**
   * `faults` faults under the mixed load: each a random moment (0.5 to 4 s) after a transaction of
   * `largeRows` began, `inject`ed, then waited on until the source streams again; `describe(i)` names
   * fault i in the log. The load stops at the end and what Kafka holds is counted against the audit.
   */
  async underFaults(options: {
    faults: number;
    largeRows: number;
    random: () => number;
    log: (line: string) => void;
    describe: (fault: number) => string;
    inject: () => Promise<void>;
  }): Promise<{ counts: Counts; recoveries: (number | undefined)[]; settled: string | undefined }> {
    this.startLoad();
    const marks: FaultMark[] = [];
    const recoveries: (number | undefined)[] = [];
    for (let fault = 0; fault < options.faults; fault++) {
      const large = this.bulk(options.largeRows);
      await sleep(500 + options.random() * 3500);
      marks.push(await this.mark());
      const faultAt = Date.now();
      await options.inject();
      const recovery = await streamingAgain(this.relay, 'db', faultAt);
      recoveries.push(recovery);
      options.log(`${options.describe(fault)}: streaming again after ${recovery ?? 'never'} ms`);
      await large;
      if (recovery === undefined) break;
    }
    await this.stopLoad();
    const settled = await this.settle();
    return { counts: await this.count(marks), recoveries, settled };
  }

  /** Stops the load and the relay, and drops the slot so it pins no WAL for the rest of the run. */
  async destroy(): Promise<void> {
    await this.stopLoad().catch(() => undefined);
    await this.bulkClient.end();
    await this.relay.destroy();
    await waitFor(
      'the slot to be released and dropped',
      async () => {
        await this.fx.sql(
          `SELECT pg_drop_replication_slot(slot_name) FROM pg_replication_slots WHERE slot_name = $1`,
          [`pgrelay_db_${this.fx.database}`],
        );
        return true;
      },
      30_000,
    ).catch(() => undefined);
  }
}
