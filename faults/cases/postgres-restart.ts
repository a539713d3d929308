import { PostgresServer } from '../../test/harness/postgres.js';
import { BATCH_SIZE, type FaultCase, result } from '../fault-case.js';
import { PostgresFeed } from '../postgres-feed.js';

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
          const { counts, recoveries, settled } = await feed.underFaults({
            faults: restarts,
            largeRows,
            random,
            log,
            describe: (restart) => `restart -m ${mode} ${restart + 1}/${restarts}`,
            inject: () => server.restart(mode),
          });
          return result(this, counts, { bound: { perFault: BATCH_SIZE }, recoveries, problems: [settled] });
        } finally {
          await feed.destroy();
        }
      } finally {
        await server.destroy();
      }
    },
  };
}
