/**
 * The harness broker's CPU, read from its threads in /proc: what the broker spent while a scenario
 * ran, beside what pgrelay spent. Both share this machine's cores.
 */
import fs from 'node:fs';

/** CPU seconds (user + system) of the broker's threads, by kind. */
export interface BrokerCpu {
  /** The JVM's JIT compiler threads (C1, C2). */
  compilers: number;
  /** Kafka's network and request handler threads (`data-plane-kafka-…`). */
  requests: number;
  all: number;
}

/** Clock ticks per second in /proc/<pid>/stat (USER_HZ, 100 on Linux). */
const TICKS_PER_SECOND = 100;

/** The broker's CPU so far; undefined when the harness did not say which process it is. */
export function brokerCpu(): BrokerCpu | undefined {
  const pid = process.env.PGRELAY_TEST_KAFKA_PID;
  if (!pid) return undefined;
  const whole = readStat(`/proc/${pid}/stat`);
  if (whole === undefined) return undefined;
  // The process's figure also counts threads that have ended since.
  const cpu: BrokerCpu = { compilers: 0, requests: 0, all: whole.seconds };
  for (const task of fs.readdirSync(`/proc/${pid}/task`)) {
    const thread = readStat(`/proc/${pid}/task/${task}/stat`);
    if (thread === undefined) continue; // it ended
    if (/^C[12] CompilerThre/.test(thread.name)) cpu.compilers += thread.seconds;
    else if (thread.name.startsWith('data-plane-kafk')) cpu.requests += thread.seconds;
  }
  return cpu;
}

function readStat(file: string): { name: string; seconds: number } | undefined {
  let stat: string;
  try {
    stat = fs.readFileSync(file, 'utf8');
  } catch {
    return undefined;
  }
  const name = stat.slice(stat.indexOf('(') + 1, stat.lastIndexOf(')'));
  // The fields after the name: the state first, utime 12th, stime 13th.
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  return { name, seconds: (Number(fields[11]) + Number(fields[12])) / TICKS_PER_SECOND };
}

/** The broker's CPU per unit between two readings, as a note: "broker CPU 5.1 µs per message (…)". */
export function brokerCpuNote(before: BrokerCpu | undefined, count: number, unit: string): string[] {
  const after = brokerCpu();
  if (before === undefined || after === undefined) return [];
  const micros = (key: keyof BrokerCpu) => (((after[key] - before[key]) / count) * 1e6).toFixed(1);
  return [
    `broker CPU ${micros('all')} µs per ${unit}: request threads ${micros('requests')}, JIT compilers ${micros('compilers')}`,
  ];
}
