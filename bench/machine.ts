/**
 * How quickly this machine runs pgrelay's kind of work right now, to compare runs by. On this shared
 * machine the same scenario's CPU per row moved by half between runs minutes apart with the build
 * unchanged, and a fixed piece of work in one process took 74 to 92 ms a pass or 121 to 157, in
 * spells of several passes (16 passes in each of 4 processes): the quickest pass shows the machine's
 * speed, the median how much of the time it ran slower.
 */
import { relayMessages } from '../test/fixtures/events.js';

/** CPU milliseconds per pass of the work: the quickest pass and the median one. */
export interface MachineSpeed {
  quickestMs: number;
  medianMs: number;
  /** What the work computed: returned, so that the compiler cannot leave any of it out. */
  checksum: number;
}

const EVENTS = 20_000;
/** V8 is still optimising the work over the first passes: 139, 126 and then 81 ms in a fresh process. */
const WARM_UP_PASSES = 3;
const PASSES = 10;

/**
 * JSON of change events written and read back, and a loop over their bytes: what pgrelay spends
 * most of its CPU on. Timed on this process's CPU clock, which the machine's other tenants slow
 * down, while the wall clock would also count the time the hypervisor gave to them.
 */
export function machineSpeed(): MachineSpeed {
  const events = relayMessages(EVENTS, { rows: EVENTS }).map((m) => JSON.parse(m.value.toString()) as object);
  const timings: number[] = [];
  let checksum = 0;
  for (let pass = 0; pass < WARM_UP_PASSES + PASSES; pass++) {
    const started = process.cpuUsage();
    for (const event of events) {
      const bytes = Buffer.from(JSON.stringify(event));
      for (let i = 0; i < bytes.length; i++) checksum = (checksum + bytes[i]!) | 0;
      checksum ^= Object.keys(JSON.parse(bytes.toString()) as object).length;
    }
    const used = process.cpuUsage(started);
    if (pass >= WARM_UP_PASSES) timings.push((used.user + used.system) / 1000);
  }
  timings.sort((a, b) => a - b);
  return { quickestMs: timings[0]!, medianMs: timings[timings.length >> 1]!, checksum };
}

export function formatMachineSpeed(speed: MachineSpeed): string {
  return (
    `${EVENTS.toLocaleString('en-US')} events written, read and scanned: ` +
    `${speed.quickestMs.toFixed(0)} ms CPU at the quickest of ${PASSES} passes, ${speed.medianMs.toFixed(0)} ms the median`
  );
}
