import { type ConsumedMessage, scanTopic } from '../test/harness/kcat.js';

/** Each partition's end offset just before a fault: what was written before it. */
export type FaultMark = ReadonlyMap<number, number>;

export interface Counts {
  expected: number;
  lost: number;
  duplicated: number;
  /** Duplicates delivered after the worst single fault (or with no fault at all). */
  worstDuplicates: number;
  /** Deliveries of changes that were not expected. */
  unexpected: number;
  /** A few of the lost changes, to start looking from. */
  lostSample: string[];
}

/**
 * Deliveries per change, against the changes expected. A duplicate is charged to the last fault
 * marked before its offset: the redelivery a restart caused lands after the fault that caused it.
 */
export class DeliveryCount {
  private readonly deliveries = new Map<string, number>();
  private readonly duplicatesAfter: number[];
  private duplicated = 0;
  private unexpected = 0;

  constructor(
    private readonly expected: readonly string[],
    private readonly marks: readonly FaultMark[] = [],
  ) {
    for (const change of expected) this.deliveries.set(change, 0);
    this.duplicatesAfter = new Array<number>(marks.length + 1).fill(0);
  }

  /** One message read back: the change it carries (undefined: none to count) and where it landed. */
  add(change: string | undefined, partition: number, offset: number): void {
    if (change === undefined) return;
    const seen = this.deliveries.get(change);
    if (seen === undefined) this.unexpected++;
    this.deliveries.set(change, (seen ?? 0) + 1);
    if (!seen) return;
    this.duplicated++;
    this.duplicatesAfter[this.faultsBefore(partition, offset)]!++;
  }

  counts(): Counts {
    const missing = this.expected.filter((change) => this.deliveries.get(change) === 0);
    return {
      expected: this.expected.length,
      lost: missing.length,
      duplicated: this.duplicated,
      worstDuplicates: Math.max(...this.duplicatesAfter),
      unexpected: this.unexpected,
      lostSample: missing.slice(0, 5),
    };
  }

  private faultsBefore(partition: number, offset: number): number {
    let count = 0;
    for (const mark of this.marks) if (offset >= (mark.get(partition) ?? 0)) count++;
    return count;
  }
}

/** Reads `topic` back (kcat) and counts it; `identify` names the change a message carries. */
export async function tally(
  brokers: string[],
  topic: string,
  expected: readonly string[],
  identify: (message: ConsumedMessage) => string | undefined,
  marks: readonly FaultMark[] = [],
): Promise<Counts> {
  const count = new DeliveryCount(expected, marks);
  await scanTopic(brokers, topic, (message) =>
    count.add(identify(message), message.partition, message.offset),
  );
  return count.counts();
}

/**
 * A relayed message by the `seq` its input carried (test/fixtures/events.ts relayMessages); a message
 * that is no such event (a poison passed on) is named by where it landed, so it counts as unexpected.
 */
export function seqOf(message: ConsumedMessage): string {
  try {
    const seq = (JSON.parse(message.value ?? 'null') as { columns?: { seq?: unknown } } | null)?.columns?.seq;
    if (typeof seq === 'number') return String(seq);
  } catch {
    // not JSON: named below
  }
  return `not a relayed event: ${message.topic}[${message.partition}]@${message.offset}`;
}
