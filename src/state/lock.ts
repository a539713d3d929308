import fs from 'node:fs';
import { StateError } from './store.js';

/**
 * One pgrelay per state file: two processes on one file would each move positions the other does
 * not hold. A pid file beside the database records the owner; a stale one (process gone) is taken over.
 */
export class RunLock {
  private constructor(private readonly file: string) {}

  static acquire(statePath: string): RunLock {
    const file = `${statePath}.pid`;
    const owner = runningOwner(statePath);
    if (owner !== undefined) {
      throw new StateError(
        `state.path ${statePath} is in use by another pgrelay (pid ${owner}); one state file per running pgrelay`,
      );
    }
    fs.writeFileSync(file, `${process.pid}\n`);
    return new RunLock(file);
  }

  release(): void {
    try {
      if (fs.readFileSync(this.file, 'utf8').trim() === String(process.pid)) fs.rmSync(this.file);
    } catch {
      // already gone
    }
  }
}

/** The pid of a live pgrelay holding `statePath`, if any. */
export function runningOwner(statePath: string): number | undefined {
  let pid: number;
  try {
    pid = Number(fs.readFileSync(`${statePath}.pid`, 'utf8').trim());
  } catch {
    return undefined;
  }
  if (!Number.isInteger(pid) || pid <= 0 || pid === process.pid) return undefined;
  try {
    const cmdline = fs.readFileSync(`/proc/${pid}/cmdline`, 'utf8');
    return /pgrelay|cli\/main\.js/.test(cmdline) ? pid : undefined;
  } catch {
    return undefined;
  }
}
