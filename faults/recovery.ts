import { lsnToBigInt } from '../src/core/lsn.js';
import type { PgrelayProcess } from '../test/harness/pgrelay.js';
import { waitFor } from '../test/harness/processes.js';

/** How long a source may take to stream again before the case says it did not. */
export const RECOVERY_TIMEOUT_MS = 120_000;

/**
 * A source's position as a number that grows as it streams: a PostgreSQL LSN, or for a Kafka
 * source ("topic/partition@offset ...") the sum of its committed offsets.
 */
export function positionValue(position: string | null | undefined): bigint | undefined {
  if (position === null || position === undefined) return undefined;
  if (!position.includes('@')) return lsnToBigInt(position);
  return position
    .split(' ')
    .reduce((sum, part) => sum + BigInt(Math.max(0, Number(part.slice(part.lastIndexOf('@') + 1)))), 0n);
}

/**
 * Milliseconds from `faultAt` until `source` streams again: every component running and the
 * position moving past where it stood while it was not (or when the wait began). `finished` tells
 * a source that has nothing left to stream from one that is stuck. Undefined when it did not
 * within RECOVERY_TIMEOUT_MS.
 */
export async function streamingAgain(
  relay: PgrelayProcess,
  source: string,
  faultAt: number,
  finished: () => Promise<boolean> = () => Promise.resolve(false),
): Promise<number | undefined> {
  let standing: bigint | undefined;
  try {
    return await waitFor(
      `source ${source} to stream again (all running, position moving)`,
      async () => {
        const status = await relay.status();
        const position = positionValue(status.sources[source]?.position);
        if (status.status !== 'ok' || standing === undefined || position === undefined) {
          standing = position ?? standing;
          return undefined;
        }
        if (position > standing || (await finished())) return Date.now() - faultAt;
        return undefined;
      },
      RECOVERY_TIMEOUT_MS,
    );
  } catch {
    return undefined;
  }
}
