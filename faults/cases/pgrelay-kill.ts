import { setTimeout as sleep } from 'node:timers/promises';
import { type FaultCase, result } from '../fault-case.js';
import { PostgresFeed } from '../postgres-feed.js';
import { streamingAgain } from '../recovery.js';
import type { FaultMark, Kill } from '../tally.js';

export interface PgrelayKillOptions {
  kills: number;
  /** Rows of the large transaction, committed before every `largeEvery`-th kill. */
  largeRows: number;
  largeEvery: number;
}

/**
 * kill -9 of pgrelay at random moments under small transactions, some kills landing while a large
 * transaction streams; each time restarted at once on the same state. The duplicates each kill may
 * cause are what was in flight at it: what Kafka held beyond the position pgrelay had stored.
 */
export function pgrelayKill({ kills, largeRows, largeEvery }: PgrelayKillOptions): FaultCase {
  return {
    name: `pgrelay kill -9 ×${kills}`,
    injected: `SIGKILL to pgrelay at random moments, restart; small transactions and one of ${largeRows.toLocaleString('en-US')} rows every ${largeEvery} kills`,
    async run({ random, log }) {
      const feed = await PostgresFeed.create('faultkill', { rows: largeRows });
      try {
        feed.startLoad();
        const marks: FaultMark[] = [];
        const killed: Kill[] = [];
        const recoveries: (number | undefined)[] = [];
        let large: Promise<void> | undefined;
        for (let kill = 0; kill < kills; kill++) {
          if (kill % largeEvery === 0) {
            await large;
            large = feed.bulk(largeRows);
          }
          await sleep(500 + random() * 3500);
          marks.push(await feed.mark());
          const faultAt = Date.now();
          await feed.relay.kill();
          const killMs = Date.now() - faultAt;
          // Read while pgrelay is down; not part of the recovery time.
          killed.push(await feed.killed());
          await feed.relay.start({ waitRunning: false });
          const recovery = await streamingAgain(feed.relay, 'db', Date.now() - killMs);
          recoveries.push(recovery);
          log(`kill ${kill + 1}/${kills}: streaming again after ${recovery ?? 'never'} ms`);
          if (recovery === undefined) break;
        }
        await large;
        await feed.stopLoad();
        const settled = await feed.settle();
        const counts = await feed.count(marks, { kills: killed });
        return result(this, counts, {
          bound: { inFlight: counts.inFlight },
          recoveries,
          problems: [settled],
        });
      } finally {
        await feed.destroy();
      }
    },
  };
}
