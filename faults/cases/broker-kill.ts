import { KafkaServer } from '../../test/harness/kafka.js';
import { BATCH_SIZE, type FaultCase, result } from '../fault-case.js';
import { PostgresFeed } from '../postgres-feed.js';

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
          const { counts, recoveries, settled } = await feed.underFaults({
            faults: kills,
            largeRows,
            random,
            log,
            describe: (kill) => `broker kill ${kill + 1}/${kills}`,
            inject: async () => {
              await kafka.stop('SIGKILL');
              await kafka.start();
            },
          });
          return result(this, counts, { bound: { perFault: BATCH_SIZE }, recoveries, problems: [settled] });
        } finally {
          await feed.destroy();
        }
      } finally {
        await kafka.destroy();
      }
    },
  };
}
