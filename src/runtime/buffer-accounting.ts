import v8 from 'node:v8';
import { namesV8Flag } from './heap-settings.js';

/**
 * V8's switch that counts the memory Buffers hold towards the limit that starts a full collection,
 * rather than every byte allocated in Buffers since the last one. V8 14.8 made it the default and
 * dropped the switch; Node 24 runs V8 13.6, where it is off.
 */
const FLAG = 'external-memory-accounted-in-global-limit';

/**
 * Whether pgrelay should turn the switch on: V8 13.0 to 14.7 have it and leave it off (V8 12, in
 * Node 22, refuses it), and an operator who named it in node's options (PGRELAY_NODE_FLAGS, either
 * way) has decided.
 */
export function wantsBufferAccounting(v8Version: string, execArgv: readonly string[]): boolean {
  const [major = 0, minor = 0] = v8Version.split('.').map(Number);
  if (major < 13 || major > 14 || (major === 14 && minor >= 8)) return false;
  return !namesV8Flag(execArgv, FLAG);
}

/**
 * Relaying, pgrelay allocates about 1 KB of Buffers per message (the socket's reads, a partition's
 * fetched records, each produce request) and little heap; V8 counted those bytes as if they were
 * live and started a full collection for every few tens of MB of them: 5 to 8 in a relay of 200,000
 * messages as bytes, 2 with the switch, which peaked lower in 14 of 16 pairs at the same CPU per
 * message or less. The PostgreSQL path allocates heap objects foremost, and those collections kept
 * its old generation small: a 1M-row transaction peaked 5 MB higher with the switch, so it is set
 * as a Kafka source is built (docs/performance.md, Memory). Set at run time, not on node's command
 * line, which a Node without the switch refuses.
 */
export function countBuffersByWhatTheyHold(): void {
  if (wantsBufferAccounting(process.versions.v8, process.execArgv)) v8.setFlagsFromString(`--${FLAG}`);
}
