import { setTimeout as sleep } from 'node:timers/promises';
import { PgRelayError, errorMessage } from '../core/errors.js';
import type { ReloadOutcome, StatusReport } from '../runtime/runtime.js';
import { runningOwner } from '../state/lock.js';
import { apiUrl } from './api.js';
import { CONFIG_HELP, type Command, configOption, loadCommandConfig } from './args.js';

/** No pgrelay runs on the config, or it did not tell the outcome: exit status 1. */
class ReloadCommandError extends PgRelayError {
  constructor(message: string) {
    super('PGRELAY_RELOAD_COMMAND', message);
  }
}

/** How long the command waits beyond the reload's own deadline (shutdown_timeout) for its outcome. */
const OUTCOME_GRACE_MS = 30_000;

const reload: Command = {
  name: 'reload',
  summary: 'validate a config and have the pgrelay running on it apply it (SIGHUP)',
  usage: `Usage: pgrelay reload [-c FILE | FILE] [--no-wait]

Validates FILE as check-config does (every problem listed; exit status 2, and nothing is sent),
then sends SIGHUP to the pgrelay running on it (the process holding its state.path, as recorded
in the run lock) and waits, through its HTTP API, for the outcome of the reload, which it prints.
Only the sources and sinks whose configuration changed (or that had failed) restart, each after
delivering what it holds; the others run on. \`systemctl reload pgrelay\` does the same for the
service. Exit status 0 when the reload was applied, 1 when it was refused or no pgrelay runs on
FILE, 2 when FILE is invalid.

Options:
${CONFIG_HELP}
      --no-wait       send the signal and return; the outcome is in pgrelay's log and /status
  -h, --help          show this help`,
  options: { ...configOption, 'no-wait': { type: 'boolean' } },
  maxArguments: 1,
  async run(values, positionals) {
    const config = loadCommandConfig(values, positionals);
    const pid = runningOwner(config.state.path);
    if (pid === undefined) {
      throw new ReloadCommandError(
        `no pgrelay is running on ${config.file} (none holds state.path ${config.state.path}; ` +
          'state.path cannot change while pgrelay runs: after changing it, restart pgrelay)',
      );
    }
    const api = config.http.listen === 'off' || values['no-wait'] ? undefined : apiUrl(config, 'reload');
    const sent = Date.now();
    try {
      process.kill(pid, 'SIGHUP');
    } catch (error) {
      throw new ReloadCommandError(
        `cannot signal the pgrelay running on ${config.file} (pid ${pid}): ${errorMessage(error)}; ` +
          'run pgrelay reload as root or as the user pgrelay runs as, or use systemctl reload',
      );
    }
    if (api === undefined) {
      process.stderr.write(`sent SIGHUP to pgrelay (pid ${pid}); its log and /status tell the outcome\n`);
      return 0;
    }
    const outcome = await outcomeAfter(api, sent, config.shutdown_timeout + OUTCOME_GRACE_MS);
    if (outcome.result === 'ok') {
      process.stdout.write(`${outcome.file}: reloaded: ${outcome.message}\n`);
      for (const problem of outcome.problems) process.stderr.write(`warning: ${problem}\n`);
      return 0;
    }
    process.stderr.write(
      `pgrelay: reload of ${outcome.file} refused, still running the previous config:\n${outcome.message}\n`,
    );
    return 1;
  },
};

/** Polls /status until it reports a reload that ended after `sent`. */
async function outcomeAfter(api: string, sent: number, timeoutMs: number): Promise<ReloadOutcome> {
  const deadline = Date.now() + timeoutMs;
  let lastError = 'no answer yet';
  while (Date.now() < deadline) {
    try {
      const status = (await (
        await fetch(`${api}/status`, { signal: AbortSignal.timeout(5000) })
      ).json()) as StatusReport;
      const last = status.reload.last;
      if (!status.reload.in_progress && last !== null && Date.parse(last.at) >= sent) return last;
      lastError = 'the reload has not ended yet';
    } catch (error) {
      lastError = errorMessage((error as { cause?: unknown }).cause ?? error);
    }
    await sleep(200);
  }
  throw new ReloadCommandError(
    `sent SIGHUP, but ${api}/status did not tell the reload's outcome within ${Math.round(timeoutMs / 1000)} s (${lastError}): see pgrelay's log`,
  );
}

export const RELOAD_COMMANDS: readonly Command[] = [reload];
