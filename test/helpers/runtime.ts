import path from 'node:path';
import { parseConfig } from '../../src/runtime/config.js';
import { createHttpServer, listen } from '../../src/http/server.js';
import { Runtime } from '../../src/runtime/runtime.js';
import { fetchApi } from '../harness/pgrelay.js';
import { waitFor } from '../harness/processes.js';
import { scratchDir } from './cli.js';
import { capturedLogger } from './log.js';

/**
 * What `pgrelay run` builds, in this process: a Runtime from TOML (a state file in a scratch
 * directory added, beside `files`) and its HTTP API on a free port, logging into memory.
 */
export async function startRuntime(body: string, files: Record<string, string> = {}) {
  const scratch = scratchDir('pgrelay-runtime-');
  for (const [name, text] of Object.entries(files)) scratch.write(name, text);
  // [state] last, so the body's top-level keys stay top-level.
  const text = `stats_interval = "off"\n${body}\n[state]\npath = "state.db"\n`;
  const create = async () => {
    const config = parseConfig(text, path.join(scratch.dir, 'pgrelay.toml'), {});
    const { log, lines } = capturedLogger(config.log.level);
    return { log, lines, runtime: await Runtime.create(config, log) };
  };
  const { log, lines, runtime } = await create().catch((error: unknown) => {
    scratch.remove();
    throw error;
  });
  const app = createHttpServer(runtime, log);
  const url = `http://${await listen(app, '127.0.0.1:0')}`;
  runtime.start();
  return {
    runtime,
    url,
    lines,
    scratch,
    get: (pathname: string, init?: RequestInit) => fetchApi(`${url}${pathname}`, init),
    /** Polls GET `pathname` until `accept` returns something for its status and JSON body. */
    async until<B, T>(pathname: string, accept: (status: number, body: B) => T | undefined): Promise<T> {
      return waitFor(
        `GET ${pathname} to answer as expected`,
        async () => {
          const response = await fetchApi(`${url}${pathname}`);
          return accept(response.status, (await response.json()) as B);
        },
        30_000,
      );
    },
    async stop(): Promise<boolean> {
      const clean = await runtime.stop();
      await app.close();
      scratch.remove();
      return clean;
    },
  };
}

export type RunningRuntime = Awaited<ReturnType<typeof startRuntime>>;
