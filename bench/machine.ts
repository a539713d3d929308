/**
 * How quickly this machine runs pgrelay's kind of work right now. On a shared machine the same
 * scenario's CPU per row moved by half between runs minutes apart, with the build unchanged; a fixed
 * piece of work timed at the start and the end of a run tells a slow hour from a slower build.
 */
import { relayMessages } from '../test/fixtures/events.js';

/** CPU and wall milliseconds of one pass, the quickest of several. */
export interface MachineSpeed {
  cpuMs: number;
  wallMs: number;
  /** What the work computed: returned, so that the compiler cannot leave any of it out. */
  checksum: number;
}

const EVENTS = 20_000;
const PASSES = 5;

/**
 * JSON of change events written and read back, and a loop over their bytes: what pgrelay spends
 * most of its CPU on. The quickest of five passes after one to warm up, on this process's CPU clock
 * (what the machine's neighbours slow down) and the wall clock (which also counts the time the
 * hypervisor gave to others).
 */
export function machineSpeed(): MachineSpeed {
  const events = relayMessages(EVENTS, { rows: EVENTS }).map((m) => JSON.parse(m.value.toString()) as object);
  let best = { cpuMs: Infinity, wallMs: Infinity };
  let checksum = 0;
  for (let pass = 0; pass <= PASSES; pass++) {
    const cpuStarted = process.cpuUsage();
    const wallStarted = performance.now();
    for (const event of events) {
      const bytes = Buffer.from(JSON.stringify(event));
      for (let i = 0; i < bytes.length; i++) checksum = (checksum + bytes[i]!) | 0;
      checksum ^= Object.keys(JSON.parse(bytes.toString()) as object).length;
    }
    const cpu = process.cpuUsage(cpuStarted);
    const timed = { cpuMs: (cpu.user + cpu.system) / 1000, wallMs: performance.now() - wallStarted };
    if (pass > 0 && timed.cpuMs < best.cpuMs) best = timed;
  }
  return { ...best, checksum };
}

export function formatMachineSpeed(speed: MachineSpeed): string {
  return `${EVENTS.toLocaleString('en-US')} events written, read and scanned in ${speed.cpuMs.toFixed(0)} ms CPU (${speed.wallMs.toFixed(0)} ms wall)`;
}
