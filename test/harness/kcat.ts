import { execFile } from 'node:child_process';
import { promisify } from 'node:util';

const run = promisify(execFile);

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

/**
 * Every message of `topic` from the beginning, read by kcat (librdkafka): an independent client, so
 * a test does not check pgrelay's Kafka client with itself. Stops at the end of every partition.
 */
export async function readTopic(brokers: string[], topic: string): Promise<ConsumedMessage[]> {
  const separator = '\u001e';
  const { stdout } = await run(
    'kcat',
    ['-b', brokers.join(','), '-C', '-t', topic, '-o', 'beginning', '-e', '-q', '-J', '-D', separator],
    { maxBuffer: 1024 * 1024 * 1024 },
  );
  return stdout
    .split(separator)
    .filter((line) => line.trim() !== '')
    .map((line) => {
      const raw = JSON.parse(line) as {
        topic: string;
        partition: number;
        offset: number;
        key: string | null;
        payload: string | null;
        headers?: string[];
      };
      const headerList: [string, string][] = [];
      for (let i = 0; raw.headers && i + 1 < raw.headers.length; i += 2)
        headerList.push([raw.headers[i]!, raw.headers[i + 1]!]);
      const headers = Object.fromEntries(headerList);
      return {
        topic: raw.topic,
        partition: raw.partition,
        offset: raw.offset,
        key: raw.key,
        value: raw.payload,
        headers,
        headerList,
      };
    });
}

/** Waits until `topic` holds at least `count` messages, then returns them all. */
export async function readAtLeast(
  brokers: string[],
  topic: string,
  count: number,
  timeoutMs = 60_000,
): Promise<ConsumedMessage[]> {
  const deadline = Date.now() + timeoutMs;
  let messages: ConsumedMessage[] = [];
  for (;;) {
    try {
      messages = await readTopic(brokers, topic);
    } catch (error) {
      if (!/Unknown topic/i.test(String((error as { stderr?: string }).stderr ?? error))) throw error;
    }
    if (messages.length >= count) return messages;
    if (Date.now() > deadline)
      throw new Error(`topic ${topic}: ${messages.length} messages after ${timeoutMs} ms, expected ${count}`);
    await new Promise((r) => setTimeout(r, 500));
  }
}
