import { type ChildProcess, spawn } from 'node:child_process';
import fs from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
/** Where running services are recorded, so a later run can reap what a crashed run left behind. */
const REGISTRY = path.join(os.tmpdir(), 'pgrelay-harness');

/**
 * Ports freePort gave out in this process. The system offers a port it just freed again, so two
 * calls before either process bound its port could get the same one (a CI run did: two pgrelays of
 * one test on one HTTP port, the second refused with EADDRINUSE).
 */
const givenOut = new Set<number>();

/** A port nobody listens on right now, and not given out before by this process. */
export async function freePort(): Promise<number> {
  for (;;) {
    const port = await unusedPort();
    if (givenOut.has(port)) continue;
    givenOut.add(port);
    return port;
  }
}

function unusedPort(): Promise<number> {
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

/** `text` as a regular expression source that matches exactly it (Node 24's RegExp.escape, untyped here). */
export function literalPattern(text: string): string {
  return text.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
}

/** How often waitFor asks at most: it starts at once and backs off to this. */
const POLL_MAX_MS = 200;

/** Thrown by a probe when what it waits for can no longer happen (the process exited): waitFor fails at once. */
export class Hopeless extends Error {}

/**
 * Asks `probe` until it returns something other than undefined, and returns that. Fails after
 * `timeoutMs` (also when a probe has not answered by then), or as soon as a probe throws Hopeless,
 * saying it was waiting for `what` (a function: what it says at that moment), with the last error a
 * probe threw and the tail of `logFile`. It asks at most every `pollMaxMs` (a bench timing the
 * moment asks more often).
 */
export async function waitFor<T>(
  what: string | (() => string),
  probe: () => Promise<T | undefined>,
  timeoutMs: number,
  logFile?: string,
  pollMaxMs = POLL_MAX_MS,
): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  let lastError: unknown;
  for (let pause = 1; ; pause = Math.min(pause * 2, pollMaxMs)) {
    try {
      const value = await beforeDeadline(probe(), deadline);
      if (value === LATE) {
        lastError = new Error('the last check had not answered yet');
      } else if (value !== undefined) {
        return value;
      }
    } catch (error) {
      lastError = error;
    }
    const left = deadline - Date.now();
    if (left <= 0 || lastError instanceof Hopeless) {
      const tail =
        logFile && fs.existsSync(logFile)
          ? `\n--- ${logFile} (tail) ---\n${fs.readFileSync(logFile, 'utf8').slice(-3000)}`
          : '';
      const outcome = lastError instanceof Hopeless ? 'gave up' : `timed out after ${timeoutMs} ms`;
      throw new Error(
        `${outcome} waiting for ${typeof what === 'string' ? what : what()}${lastError ? `: ${(lastError as Error).message ?? JSON.stringify(lastError)}` : ''}${tail}`,
      );
    }
    await new Promise((r) => setTimeout(r, Math.min(pause, left)));
  }
}

/** Waits for `promise`, failing after `timeoutMs` with a message saying it was waiting for `what`. */
export async function within<T>(what: string, promise: Promise<T>, timeoutMs: number): Promise<T> {
  const value = await beforeDeadline(promise, Date.now() + timeoutMs);
  if (value === LATE) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
  return value;
}

const LATE: unique symbol = Symbol('late');

/** `promise`'s outcome, or LATE if it has none at `deadline`; leaves no timer behind. */
async function beforeDeadline<T>(promise: Promise<T>, deadline: number): Promise<T | typeof LATE> {
  let timer: NodeJS.Timeout | undefined;
  const late = new Promise<typeof LATE>((resolve) => {
    timer = setTimeout(() => resolve(LATE), Math.max(deadline - Date.now(), 0));
  });
  try {
    return await Promise.race([promise, late]);
  } finally {
    clearTimeout(timer);
  }
}

export interface CommandResult {
  code: number | null;
  stdout: string;
  stderr: string;
}

/**
 * Runs a command to completion, `input` on its stdin, and returns its exit code and output. A command
 * still running after `timeoutMs` is killed, and the wait fails naming it and showing its output.
 */
export function runCommand(
  command: string,
  args: string[],
  options: { timeoutMs: number; env?: NodeJS.ProcessEnv; cwd?: string; input?: string },
): Promise<CommandResult> {
  return new Promise((resolve, reject) => {
    const child = spawn(command, args, {
      cwd: options.cwd,
      env: options.env ?? process.env,
      stdio: [options.input === undefined ? 'ignore' : 'pipe', 'pipe', 'pipe'],
    });
    let stdout = '';
    let stderr = '';
    child.stdout!.setEncoding('utf8').on('data', (chunk: string) => (stdout += chunk));
    child.stderr!.setEncoding('utf8').on('data', (chunk: string) => (stderr += chunk));
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      reject(
        new Error(
          `timed out after ${options.timeoutMs} ms waiting for \`${[command, ...args].join(' ')}\` to exit; its output:\n${stdout}${stderr}`,
        ),
      );
    }, options.timeoutMs);
    child.once('error', (error) => {
      clearTimeout(timer);
      reject(error);
    });
    child.once('close', (code) => {
      clearTimeout(timer);
      resolve({ code, stdout, stderr });
    });
    child.stdin?.end(options.input);
  });
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
