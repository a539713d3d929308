import { type ConsumedMessage, scanTopic } from '../test/harness/kcat.js';

/** Each partition's end offset just before a fault: what was written before it. */
export type FaultMark = ReadonlyMap<number, number>;

export interface Counts {
  expected: number;
  lost: number;
  duplicated: number;
  /** Duplicates delivered after each fault; index 0: before the first fault, k: after fault k. */
  duplicatesPerFault: number[];
  /** Deliveries of changes that were not expected. */
  unexpected: number;
  /** A few of the lost changes, to start looking from. */
  lostSample: string[];
}

/**
 * A process killed: what Kafka held then, and which of it lies at or before the position the
 * process had stored (a restart does not send that again). The rest was in flight: a restart sends
 * it again, so it bounds the duplicates the kill may cause.
 */
export interface Kill {
  /** The output topic's end offsets once the process was dead. */
  end: FaultMark;
  /** Whether a message of the output topic lies at or before the stored position. */
  covered: (message: ConsumedMessage) => boolean;
}

/** Per kill, the messages Kafka held at it beyond the stored position. */
export class InFlightCount {
  private readonly inFlight: number[];

  constructor(private readonly kills: readonly Kill[]) {
    this.inFlight = new Array<number>(kills.length).fill(0);
  }

  add(message: ConsumedMessage): void {
    for (const [k, kill] of this.kills.entries()) {
      if (message.offset < (kill.end.get(message.partition) ?? 0) && !kill.covered(message))
        this.inFlight[k]!++;
    }
  }

  counts(): number[] {
    return [...this.inFlight];
  }
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
      duplicatesPerFault: [...this.duplicatesAfter],
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

/**
 * Reads `topic` back (kcat) and counts it; `identify` names the change a message carries. With
 * `kills`, also what was in flight at each (`inFlight`, in their order).
 */
export async function tally(
  brokers: string[],
  topic: string,
  expected: readonly string[],
  identify: (message: ConsumedMessage) => string | undefined,
  marks: readonly FaultMark[] = [],
  kills: readonly Kill[] = [],
): Promise<Counts & { inFlight: number[] }> {
  const count = new DeliveryCount(expected, marks);
  const inFlight = new InFlightCount(kills);
  await scanTopic(brokers, topic, (message) => {
    count.add(identify(message), message.partition, message.offset);
    inFlight.add(message);
  });
  return { ...count.counts(), inFlight: inFlight.counts() };
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
