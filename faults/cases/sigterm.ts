import type { PgrelayProcess } from '../../test/harness/pgrelay.js';
import { waitFor } from '../../test/harness/processes.js';
import { type FaultCase, result } from '../fault-case.js';
import { PostgresFeed } from '../postgres-feed.js';
import { streamingAgain } from '../recovery.js';
import type { FaultMark } from '../tally.js';

export interface SigtermOptions {
  stops: number;
  /** Rows of the large transaction each stop comes in the middle of. */
  largeRows: number;
}

async function eventsOut(relay: PgrelayProcess): Promise<number> {
  const stats = (await (await relay.get('/stats')).json()) as { sinks: { out: { events_out: number } } };
  return stats.sinks.out.events_out;
}

/**
 * SIGTERM while a large transaction streams, beside small ones, then a restart: a graceful stop
 * delivers what is in flight and stores where it got to, so nothing may be sent twice.
 */
export function sigterm({ stops, largeRows }: SigtermOptions): FaultCase {
  return {
    name: `SIGTERM under load ×${stops}`,
    injected: `SIGTERM to pgrelay while a transaction of ${largeRows.toLocaleString('en-US')} rows streams (small ones beside it), restart`,
    async run({ log }) {
      const feed = await PostgresFeed.create('faultterm', { rows: largeRows });
      try {
        feed.startLoad();
        const marks: FaultMark[] = [];
        const recoveries: (number | undefined)[] = [];
        const problems: string[] = [];
        for (let stop = 0; stop < stops; stop++) {
          const before = await eventsOut(feed.relay);
          await feed.bulk(largeRows);
          // The stop comes once a part of the large transaction went out, before all of it did.
          await waitFor(
            'a part of the large transaction to be delivered',
            async () => ((await eventsOut(feed.relay)) >= before + largeRows / 5 ? true : undefined),
            60_000,
          ).catch(() => problems.push(`stop ${stop + 1}: the large transaction was not being delivered`));
          marks.push(await feed.mark());
          const faultAt = Date.now();
          const code = await feed.relay.stop();
          if (code !== 0) problems.push(`stop ${stop + 1}: exit status ${code}`);
          await feed.relay.start({ waitRunning: false });
          const recovery = await streamingAgain(feed.relay, 'db', faultAt);
          recoveries.push(recovery);
          log(`SIGTERM ${stop + 1}/${stops}: exit ${code}, streaming again after ${recovery ?? 'never'} ms`);
          if (recovery === undefined) break;
        }
        await feed.stopLoad();
        const settled = await feed.settle();
        return result(this, await feed.count(marks), {
          bound: { perFault: 0 },
          recoveries,
          problems: [...problems, settled],
        });
      } finally {
        await feed.destroy();
      }
    },
  };
}
