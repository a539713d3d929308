import { setTimeout as sleep } from 'node:timers/promises';
import { PostgresServer } from '../../test/harness/postgres.js';
import { BATCH_SIZE, type FaultCase, result } from '../fault-case.js';
import { PostgresFeed } from '../postgres-feed.js';
import { streamingAgain } from '../recovery.js';
import type { FaultMark } from '../tally.js';

export interface PostgresRestartOptions {
  /** pg_ctl stop -m MODE: fast (connections cut, checkpoint) or immediate (no checkpoint: crash recovery). */
  mode: 'fast' | 'immediate';
  restarts: number;
  /** Rows of the large transaction committed before each restart. */
  largeRows: number;
}

/** PostgreSQL stopped and started again under load, pgrelay running throughout. */
export function postgresRestart({ mode, restarts, largeRows }: PostgresRestartOptions): FaultCase {
  return {
    name: `PostgreSQL restart -m ${mode} ×${restarts}`,
    injected: `pg_ctl restart -m ${mode} (${mode === 'fast' ? 'SIGINT' : 'SIGQUIT'}); small transactions and one of ${largeRows.toLocaleString('en-US')} rows before each restart`,
    async run({ random, log }) {
      const server = await PostgresServer.start();
      try {
        const feed = await PostgresFeed.create(`faultpg${mode}`, { rows: largeRows, postgres: server });
        try {
          feed.startLoad();
          const marks: FaultMark[] = [];
          const recoveries: (number | undefined)[] = [];
          for (let restart = 0; restart < restarts; restart++) {
            const large = feed.bulk(largeRows);
            await sleep(500 + random() * 3500);
            marks.push(await feed.mark());
            const faultAt = Date.now();
            await server.restart(mode);
            const recovery = await streamingAgain(feed.relay, 'db', faultAt);
            recoveries.push(recovery);
            log(
              `restart -m ${mode} ${restart + 1}/${restarts}: streaming again after ${recovery ?? 'never'} ms`,
            );
            await large;
            if (recovery === undefined) break;
          }
          await feed.stopLoad();
          const settled = await feed.settle();
          return result(this, await feed.count(marks), {
            bound: { perFault: BATCH_SIZE },
            recoveries,
            problems: [settled],
          });
        } finally {
          await feed.destroy();
        }
      } finally {
        await server.destroy();
      }
    },
  };
}
