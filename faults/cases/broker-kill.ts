import { setTimeout as sleep } from 'node:timers/promises';
import { KafkaServer } from '../../test/harness/kafka.js';
import { BATCH_SIZE, type FaultCase, result } from '../fault-case.js';
import { PostgresFeed } from '../postgres-feed.js';
import { streamingAgain } from '../recovery.js';
import type { FaultMark } from '../tally.js';

export interface BrokerKillOptions {
  kills: number;
  /** Rows of the large transaction committed before each kill. */
  largeRows: number;
}

/** kill -9 of the Kafka broker under load, restarted at once on its data; pgrelay keeps running. */
export function brokerKill({ kills, largeRows }: BrokerKillOptions): FaultCase {
  return {
    name: `broker kill -9 ×${kills}`,
    injected: `SIGKILL to the Kafka broker, restart; small transactions and one of ${largeRows.toLocaleString('en-US')} rows before each kill`,
    async run({ random, log }) {
      const kafka = await KafkaServer.start();
      try {
        const feed = await PostgresFeed.create('faultbroker', {
          rows: largeRows,
          brokers: kafka.brokers,
          sink: 'request_timeout = "5s"',
        });
        try {
          feed.startLoad();
          const marks: FaultMark[] = [];
          const recoveries: (number | undefined)[] = [];
          for (let kill = 0; kill < kills; kill++) {
            const large = feed.bulk(largeRows);
            await sleep(500 + random() * 3500);
            marks.push(await feed.mark());
            const faultAt = Date.now();
            await kafka.stop('SIGKILL');
            await kafka.start();
            const recovery = await streamingAgain(feed.relay, 'db', faultAt);
            recoveries.push(recovery);
            log(`broker kill ${kill + 1}/${kills}: streaming again after ${recovery ?? 'never'} ms`);
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
        await kafka.destroy();
      }
    },
  };
}
