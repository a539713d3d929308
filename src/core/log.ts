import fs from 'node:fs';
import { type DestinationStreamWithMetadata, type Logger, pino } from 'pino';

export type { Logger };

/**
 * The syslog priority of each pino level. journald takes a "<N>" at the start of a line written to
 * it as that line's PRIORITY and strips it (sd-daemon(3); SyslogLevelPrefix= is on by default), so
 * `journalctl -p warning` finds pino's warnings and errors.
 */
const PRIORITY: Readonly<Record<number, number>> = { 10: 7, 20: 7, 30: 6, 40: 4, 50: 3, 60: 2 };

/**
 * True when file descriptor `fd` is the journal: systemd sets JOURNAL_STREAM to the device and
 * inode of the stream it connects stdout/stderr to (systemd.exec(5)); a child whose output was
 * redirected inherits the variable but not the stream, hence the comparison.
 */
export function isJournalStream(env: NodeJS.ProcessEnv = process.env, fd = 1): boolean {
  const match = /^(\d+):(\d+)$/.exec(env.JOURNAL_STREAM ?? '');
  if (match === null) return false;
  try {
    const stat = fs.fstatSync(fd, { bigint: true });
    return stat.dev === BigInt(match[1]!) && stat.ino === BigInt(match[2]!);
  } catch {
    return false;
  }
}

/** Each line prefixed with its syslog priority, for journald. */
function journalDestination(out: NodeJS.WritableStream): DestinationStreamWithMetadata {
  const destination: DestinationStreamWithMetadata & { lastLevel: number } = {
    [pino.symbols.needsMetadataGsym]: true,
    lastLevel: 30,
    lastTime: '',
    lastMsg: '',
    lastObj: {},
    lastLogger: undefined as unknown as Logger,
    write(line: string) {
      out.write(`<${PRIORITY[destination.lastLevel] ?? 6}>${line}`);
    },
  };
  return destination;
}

/**
 * JSON lines on stdout, for log shippers as they are; when stdout is the journal, each line starts
 * with its syslog priority so journald keeps the level.
 */
export function createLogger(
  level: string,
  destination: NodeJS.WritableStream = process.stdout,
  journal = destination === process.stdout && isJournalStream(),
): Logger {
  return pino(
    {
      level,
      base: { pid: process.pid },
      timestamp: pino.stdTimeFunctions.isoTime,
      formatters: { level: (label) => ({ level: label }) },
    },
    journal ? journalDestination(destination) : destination,
  );
}
