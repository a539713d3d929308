import { type ChildProcess, spawn } from 'node:child_process';
import fs from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
/** Where running services are recorded, so a later run can reap what a crashed run left behind. */
const REGISTRY = path.join(os.tmpdir(), 'pgrelay-harness');

/** A port nobody listens on right now. */
export async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = net.createServer();
    server.unref();
    server.on('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address() as net.AddressInfo;
      server.close(() => resolve(port));
    });
  });
}

export async function waitFor<T>(
  what: string,
  probe: () => Promise<T | undefined>,
  timeoutMs: number,
  logFile?: string,
): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  let lastError: unknown;
  for (;;) {
    try {
      const value = await probe();
      if (value !== undefined) return value;
    } catch (error) {
      lastError = error;
    }
    if (Date.now() > deadline) {
      const tail =
        logFile && fs.existsSync(logFile)
          ? `\n--- ${logFile} (tail) ---\n${fs.readFileSync(logFile, 'utf8').slice(-3000)}`
          : '';
      throw new Error(
        `timed out after ${timeoutMs} ms waiting for ${what}${lastError ? `: ${(lastError as Error).message ?? JSON.stringify(lastError)}` : ''}${tail}`,
      );
    }
    await new Promise((r) => setTimeout(r, 200));
  }
}

/** Starts a long-running service process whose output goes to `logFile`, and records it for reaping. */
export function startService(
  name: string,
  command: string,
  args: string[],
  logFile: string,
  env?: NodeJS.ProcessEnv,
): ChildProcess {
  const out = fs.openSync(logFile, 'a');
  const child = spawn(command, args, {
    stdio: ['ignore', out, out],
    env: env ?? process.env,
    detached: true,
  });
  fs.closeSync(out);
  fs.mkdirSync(REGISTRY, { recursive: true });
  const record = path.join(REGISTRY, `${process.pid}-${child.pid}.json`);
  fs.writeFileSync(record, JSON.stringify({ owner: process.pid, pid: child.pid, name }));
  child.once('exit', () => fs.rmSync(record, { force: true }));
  liveChildren.add(child);
  child.once('exit', () => liveChildren.delete(child));
  return child;
}

const liveChildren = new Set<ChildProcess>();

/** Kills services recorded by harness processes that are gone (a run killed with -9 or crashed). */
export function reapOrphans(): void {
  if (!fs.existsSync(REGISTRY)) return;
  for (const file of fs.readdirSync(REGISTRY)) {
    const full = path.join(REGISTRY, file);
    try {
      const { owner, pid } = JSON.parse(fs.readFileSync(full, 'utf8')) as { owner: number; pid: number };
      if (alive(owner)) continue;
      if (alive(pid)) process.kill(-pid, 'SIGKILL');
    } catch {
      // unreadable or already gone: nothing to reap
    }
    fs.rmSync(full, { force: true });
  }
}

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

/** Last resort on exit: no service outlives the harness process that started it. */
export function killAllChildren(): void {
  for (const child of liveChildren) {
    try {
      process.kill(-child.pid!, 'SIGKILL');
    } catch {
      // already gone
    }
  }
}

process.once('exit', killAllChildren);

export async function stopProcess(
  child: ChildProcess,
  signal: NodeJS.Signals,
  timeoutMs: number,
): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return;
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  child.kill(signal);
  const timer = setTimeout(
    () => child.exitCode === null && child.signalCode === null && child.kill('SIGKILL'),
    timeoutMs,
  );
  await exited;
  clearTimeout(timer);
}

export function tempDir(prefix: string): string {
  return fs.mkdtempSync(path.join(os.tmpdir(), prefix));
}
