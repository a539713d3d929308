import assert from 'node:assert/strict';
import { type ChildProcess, spawn } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { type Lsn, lsnToBigInt } from '../../src/core/lsn.js';
import type { StatsBody, StatsReport } from '../../src/runtime/runtime.js';
import { Hopeless, freePort, literalPattern, stopProcess, tempDir, waitFor } from './processes.js';

/** Linux's USER_HZ, the unit of /proc/PID/stat times. */
const CLOCK_TICKS = 100;

/** The checkout's root (dist/test/harness → ../../..). */
export const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../..');
export const PGRELAY_BIN = path.join(ROOT, 'bin/pgrelay');

/** How long pgrelay's API may take to answer a request, body included: far more than it ever needs. */
const API_ANSWER_MS = 30_000;

/** A request to pgrelay's HTTP API that fails, naming it, when no answer has come within API_ANSWER_MS. */
export async function fetchApi(url: string, init: RequestInit = {}): Promise<Response> {
  try {
    return await fetch(url, { signal: AbortSignal.timeout(API_ANSWER_MS), ...init });
  } catch (error) {
    if ((error as Error).name !== 'TimeoutError') throw error;
    throw new Error(`${init.method ?? 'GET'} ${url}: no answer within ${API_ANSWER_MS} ms`);
  }
}

/** /status's last_error: `config_key` names the key to fix, when one would. */
interface LastError {
  message: string;
  code: string | null;
  config_key: string | null;
}

export interface StatusBody {
  status: string;
  sources: Record<
    string,
    {
      state: string;
      position: string | null;
      last_error: LastError | null;
    } & Record<string, unknown>
  >;
  sinks: Record<string, { state: string; last_error: LastError | null } & Record<string, unknown>>;
}

/**
 * The LSN a PostgreSQL source's /status position starts with; the text may go on with the events
 * of a transaction partly delivered ("0/1A2B (and 3 events of …)").
 */
export function positionLsn(position: string): Lsn {
  return lsnToBigInt(position.split(' ')[0]!);
}

/**
 * pgrelay as a real process: `bin/pgrelay run` with a config written from TOML text (the HTTP
 * listener and state file are filled in). Killable with -9, restartable on the same state.
 */
export class PgrelayProcess {
  private child: ChildProcess | undefined;
  readonly configFile: string;
  readonly logFile: string;
  readonly stateFile: string;
  private exitPromise: Promise<number | null> | undefined;

  private constructor(
    readonly dir: string,
    readonly httpPort: number,
    configBody: string,
    httpKeys: string,
    stateFile: string | undefined,
  ) {
    this.configFile = path.join(dir, 'pgrelay.toml');
    this.logFile = path.join(dir, 'pgrelay.log');
    this.stateFile = stateFile ?? path.join(dir, 'state.db');
    this.rewrite(configBody, httpKeys);
  }

  /** Writes the config file anew (for a reload), as create() does; `httpPort`: another API port. */
  rewrite(configBody: string, httpKeys = '', httpPort = this.httpPort): void {
    // The body first, so its top-level keys (shutdown_timeout...) do not land in [state].
    fs.writeFileSync(
      this.configFile,
      `stats_interval = "off"\n${configBody}\n[http]\nlisten = "127.0.0.1:${httpPort}"\n${httpKeys}\n[state]\npath = "${this.stateFile}"\n`,
    );
  }

  /** Sends `signal` (SIGHUP: reload) to the running process. */
  signal(signal: NodeJS.Signals): void {
    if (this.child?.pid === undefined) throw new Error('pgrelay is not running');
    process.kill(this.child.pid, signal);
  }

  /**
   * `configBody`: the [sources.*], [handlers.*] and [sinks.*] tables (and top-level keys other than
   * http, state); `httpKeys`: more keys of [http] than its listen address; `stateFile`: state.path
   * (default: state.db in the process's directory).
   */
  static async create(configBody: string, httpKeys = '', stateFile?: string): Promise<PgrelayProcess> {
    return new PgrelayProcess(tempDir('pgrelay-run-'), await freePort(), configBody, httpKeys, stateFile);
  }

  get url(): string {
    return `http://127.0.0.1:${this.httpPort}`;
  }

  get pid(): number | undefined {
    return this.child?.pid;
  }

  /** Starts the process and waits until every component reports `running`. */
  async start(options: { waitRunning?: boolean; env?: NodeJS.ProcessEnv } = {}): Promise<void> {
    const out = fs.openSync(this.logFile, 'a');
    const child = spawn(PGRELAY_BIN, ['run', '-c', this.configFile], {
      stdio: ['ignore', out, out],
      env: { ...process.env, ...options.env },
    });
    fs.closeSync(out);
    this.child = child;
    this.exitPromise = new Promise((resolve) => child.once('exit', (code) => resolve(code)));
    if (options.waitRunning ?? true) await this.waitRunning();
  }

  /** Waits for /status ok, asking at most every `pollMaxMs` (waitFor's default when undefined). */
  async waitRunning(timeoutMs = 60_000, pollMaxMs?: number): Promise<StatusBody> {
    return waitFor(
      'pgrelay to report every component running',
      async () => {
        if (this.child?.exitCode !== null && this.child?.exitCode !== undefined) {
          throw new Hopeless(`pgrelay exited with ${this.child.exitCode}`);
        }
        const status = await this.status();
        return status.status === 'ok' ? status : undefined;
      },
      timeoutMs,
      this.logFile,
      pollMaxMs,
    );
  }

  async status(): Promise<StatusBody> {
    const response = await fetchApi(`${this.url}/status`);
    return (await response.json()) as StatusBody;
  }

  async stats(): Promise<StatsBody> {
    const response = await fetchApi(`${this.url}/stats`);
    return (await response.json()) as StatsBody;
  }

  /** Waits until sink `sink`'s /stats counters pass `reached`; returns them. */
  async waitForSink(
    sink: string,
    what: string,
    reached: (counters: StatsReport) => boolean,
    timeoutMs: number,
  ): Promise<StatsReport> {
    return waitFor(
      what,
      async () => {
        const counters = (await this.stats()).sinks[sink]!;
        return reached(counters) ? counters : undefined;
      },
      timeoutMs,
      this.logFile,
    );
  }

  async get(pathname: string, init?: RequestInit): Promise<Response> {
    return fetchApi(`${this.url}${pathname}`, init);
  }

  /** One series from /metrics (see metricIn); fails when it is missing. */
  async metric(series: string): Promise<number> {
    const value = metricIn(await (await this.get('/metrics')).text(), series);
    assert.ok(value !== undefined, `${series} in /metrics`);
    return value;
  }

  /** Graceful stop (SIGTERM, or SIGINT as Ctrl-C sends); resolves with the exit code. */
  async stop(timeoutMs = 60_000, signal: 'SIGTERM' | 'SIGINT' = 'SIGTERM'): Promise<number | null> {
    if (this.child === undefined) return null;
    await stopProcess(this.child, signal, timeoutMs);
    const code = await this.exitPromise!;
    this.child = undefined;
    return code;
  }

  /** kill -9: no flush, no position write. */
  async kill(): Promise<void> {
    if (this.child === undefined) return;
    await stopProcess(this.child, 'SIGKILL', 1000);
    this.child = undefined;
  }

  /** Peak resident memory so far (VmHWM), in MB; the process must be running. */
  peakRssMb(): number | undefined {
    return this.memoryMb('VmHWM');
  }

  /** Resident memory now (VmRSS), in MB; the process must be running. */
  rssMb(): number | undefined {
    return this.memoryMb('VmRSS');
  }

  private memoryMb(field: 'VmHWM' | 'VmRSS'): number | undefined {
    try {
      const status = fs.readFileSync(`/proc/${this.child?.pid}/status`, 'utf8');
      const match = new RegExp(`${field}:\\s+(\\d+) kB`).exec(status);
      return match ? Number(match[1]) / 1024 : undefined;
    } catch {
      return undefined;
    }
  }

  /** CPU time the process used so far (user + system), in seconds; the process must be running. */
  cpuSeconds(): number | undefined {
    try {
      // Fields after the command name (which may hold spaces): utime and stime are the 12th and 13th.
      const fields = fs.readFileSync(`/proc/${this.child?.pid}/stat`, 'utf8').split(') ')[1]!.split(' ');
      return (Number(fields[11]) + Number(fields[12])) / CLOCK_TICKS;
    } catch {
      return undefined;
    }
  }

  log(): string {
    return fs.existsSync(this.logFile) ? fs.readFileSync(this.logFile, 'utf8') : '';
  }

  async destroy(): Promise<void> {
    await this.kill();
    fs.rmSync(this.dir, { recursive: true, force: true });
  }
}

/** One series' value in a /metrics text, `series` as written there (`name` or `name{label="value",...}`). */
export function metricIn(text: string, series: string): number | undefined {
  const line = new RegExp(`^${literalPattern(series)} (\\S+)$`, 'm').exec(text);
  return line === null ? undefined : Number(line[1]);
}
