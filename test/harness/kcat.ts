import { spawn } from 'node:child_process';
import { waitFor } from './processes.js';

export interface ConsumedMessage {
  topic: string;
  partition: number;
  offset: number;
  key: string | null;
  value: string | null;
  headers: Record<string, string>;
  /** Every header in order, repeated names included. */
  headerList: [string, string][];
}

/** What kcat -J prints for one message. */
interface KcatRecord {
  topic: string;
  partition: number;
  offset: number;
  key: string | null;
  payload: string | null;
  headers?: string[];
}

const SEPARATOR = '\u001e';
/** How long one read of a topic may take. */
const KCAT_MS = 120_000;

/**
 * Every message of `topic` from the beginning, handed to `onMessage` one at a time as kcat
 * (librdkafka) reads them: an independent client, so a test does not check pgrelay's Kafka client
 * with itself. Stops at the end of every partition; resolves with the number of messages. Topics of
 * any size: nothing but the message at hand is held in memory.
 */
export function scanTopic(
  brokers: string[],
  topic: string,
  onMessage: (message: ConsumedMessage) => void,
  isolation: 'read_committed' | 'read_uncommitted' = 'read_committed',
): Promise<number> {
  return new Promise((resolve, reject) => {
    const kcat = spawn(
      'kcat',
      [
        ...['-b', brokers.join(','), '-X', `isolation.level=${isolation}`, '-C', '-t', topic],
        ...['-o', 'beginning', '-e', '-q', '-J', '-D', SEPARATOR],
      ],
      { stdio: ['ignore', 'pipe', 'pipe'] },
    );
    let count = 0;
    let pending = '';
    let stderr = '';
    let failed: Error | undefined;
    // kcat stops at the end of every partition; one that hangs (a broker gone mid-read) fails here.
    const deadline = setTimeout(() => {
      failed = new Error(
        `kcat reading ${topic} did not reach the end of its partitions within ${KCAT_MS / 1000} s`,
      );
      kcat.kill();
    }, KCAT_MS);
    const take = (text: string) => {
      if (text.trim() === '' || failed !== undefined) return;
      try {
        onMessage(consumedMessage(JSON.parse(text) as KcatRecord));
        count++;
      } catch (error) {
        failed = error as Error;
        kcat.kill();
      }
    };
    kcat.stdout.setEncoding('utf8');
    kcat.stdout.on('data', (chunk: string) => {
      const parts = (pending + chunk).split(SEPARATOR);
      pending = parts.pop()!;
      for (const part of parts) take(part);
    });
    kcat.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString('utf8')));
    kcat.on('error', reject);
    kcat.on('close', (code) => {
      clearTimeout(deadline);
      take(pending);
      if (failed !== undefined) reject(failed);
      else if (code !== 0)
        reject(
          Object.assign(new Error(`kcat reading ${topic} exited with ${code}: ${stderr.trim()}`), { stderr }),
        );
      else resolve(count);
    });
  });
}

function consumedMessage(raw: KcatRecord): ConsumedMessage {
  const headerList: [string, string][] = [];
  for (let i = 0; raw.headers && i + 1 < raw.headers.length; i += 2)
    headerList.push([raw.headers[i]!, raw.headers[i + 1]!]);
  return {
    topic: raw.topic,
    partition: raw.partition,
    offset: raw.offset,
    key: raw.key,
    value: raw.payload,
    headers: Object.fromEntries(headerList),
    headerList,
  };
}

/** Every message of `topic` from the beginning (see scanTopic), in one array. */
export async function readTopic(
  brokers: string[],
  topic: string,
  isolation?: 'read_committed' | 'read_uncommitted',
): Promise<ConsumedMessage[]> {
  const messages: ConsumedMessage[] = [];
  await scanTopic(brokers, topic, (message) => messages.push(message), isolation);
  return messages;
}

/** Waits until `topic` holds at least `count` messages, then returns them all. */
export async function readAtLeast(
  brokers: string[],
  topic: string,
  count: number,
  timeoutMs = 60_000,
): Promise<ConsumedMessage[]> {
  let messages: ConsumedMessage[] = [];
  return waitFor(
    () => `${count} messages on topic ${topic} (it holds ${messages.length})`,
    async () => {
      try {
        messages = await readTopic(brokers, topic);
      } catch (error) {
        if (!/Unknown topic/i.test(String(error))) throw error;
      }
      return messages.length >= count ? messages : undefined;
    },
    timeoutMs,
  );
}
