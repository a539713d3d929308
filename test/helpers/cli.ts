import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { PGRELAY_BIN } from '../harness/pgrelay.js';
import { type CommandResult, runCommand } from '../harness/processes.js';

/**
 * Runs bin/pgrelay (the built CLI, as operators run it) to completion; fails if it is still running
 * after `timeoutMs`.
 */
export function pgrelay(
  args: string[],
  options: { cwd?: string; env?: NodeJS.ProcessEnv; timeoutMs?: number } = {},
): Promise<CommandResult> {
  return runCommand(PGRELAY_BIN, args, {
    cwd: options.cwd,
    env: { ...process.env, ...options.env },
    timeoutMs: options.timeoutMs ?? 120_000,
  });
}

/** A scratch directory removed by the returned cleanup; `write` puts a file in it. */
export function scratchDir(prefix = 'pgrelay-test-') {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), prefix));
  return {
    dir,
    write(name: string, text: string): string {
      const file = path.join(dir, name);
      fs.writeFileSync(file, text);
      return file;
    },
    remove: () => fs.rmSync(dir, { recursive: true, force: true }),
  };
}
