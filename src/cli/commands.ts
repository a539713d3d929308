import { displayConfig } from '../config/display.js';
import { configSchema } from '../runtime/config-schema.js';
import { createLogger } from '../core/log.js';
import { HttpApi } from '../http/server.js';
import { Runtime } from '../runtime/runtime.js';
import { VERSION } from '../core/version.js';
import {
  CONFIG_HELP,
  type Command,
  commandConfigLoader,
  configFile,
  configOption,
  loadCommandConfig,
} from './args.js';

const run: Command = {
  name: 'run',
  summary: 'run the sources and sinks a config file describes',
  usage: `Usage: pgrelay run [-c FILE | FILE]

Runs until SIGTERM or SIGINT, then stops taking input, delivers what is in flight, stores positions
and exits (within shutdown_timeout). A second signal exits at once; undelivered changes are sent
again after a restart.

SIGHUP reloads FILE (and the environment file beside it): an invalid file is refused, every
problem logged, and pgrelay runs on as it was; otherwise only the sources and sinks whose
configuration changed, or that had failed, restart, each after delivering what it holds, and
positions are kept. state.path cannot change without a restart. See also: pgrelay reload.

A source or sink that fails for good (wrong password, missing privilege, dropped slot) stops alone,
holding its positions, while the others run on: its log line and /status name the config key to
fix; fix it and reload. Exit status at the stop: 0, or 1 when the deadline cut delivery short or
the state file could not store positions, or 3 when a source or sink had failed.

Options:
${CONFIG_HELP}
  -h, --help          show this help`,
  options: configOption,
  maxArguments: 1,
  async run(values, positionals) {
    // SIGHUP's default action ends the process: take it before anything is built, and reload once
    // the runtime runs.
    const hangup: { asked: boolean; reload?: () => void } = { asked: false };
    process.on('SIGHUP', () => (hangup.reload === undefined ? (hangup.asked = true) : hangup.reload()));
    const load = commandConfigLoader(values, positionals);
    const config = load();
    const log = createLogger(config.log.level);
    const runtime = await Runtime.create(config, log);
    const http = new HttpApi(runtime, log);
    try {
      const bound = await http.listen(config.http.listen);
      if (bound !== undefined) log.info({ listen: bound }, `HTTP API on http://${bound}`);
    } catch (error) {
      runtime.dispose();
      throw error;
    }
    runtime.start();
    log.info(
      {
        version: VERSION,
        config: config.file,
        sources: Object.keys(config.sources),
        sinks: Object.keys(config.sinks),
      },
      `pgrelay ${VERSION} running`,
    );
    hangup.reload = () => {
      log.info({ signal: 'SIGHUP', config: config.file }, `SIGHUP: reloading ${config.file}`);
      void runtime.reload(load, { moveHttp: (listen) => http.move(listen) });
    };
    if (hangup.asked) hangup.reload();
    const signal = await new Promise<NodeJS.Signals>((resolve) => {
      process.once('SIGTERM', resolve);
      process.once('SIGINT', resolve);
    });
    log.info({ signal }, `${signal}: stopping (deadline ${runtime.config.shutdown_timeout} ms)`);
    const force = (second: NodeJS.Signals) => {
      log.warn(
        { signal: second },
        `${second} again: exiting without waiting; undelivered changes will be sent again`,
      );
      process.exit(1);
    };
    process.once('SIGTERM', force);
    process.once('SIGINT', force);
    const failed = () => runtime.failedComponents().map((c) => `${c.role} ${c.name}`);
    const clean = await runtime.stop();
    await http.close();
    const unstored = runtime.stateFailure;
    if (clean) log.info('stopped cleanly; positions stored');
    else if (unstored !== undefined)
      log.error(
        { err: unstored },
        `stopped; positions NOT stored (a restart sends again what was delivered since the last stored ones): ${unstored.message}`,
      );
    else log.warn('shutdown deadline passed before every batch was delivered; the rest will be sent again');
    const broken = failed();
    if (broken.length === 0) return clean ? 0 : 1;
    // Visible to systemd (the unit ends "failed", not restarted) and to whoever stopped it.
    log.error(
      { failed: broken },
      `stopped while ${broken.join(', ')} had failed (see the error above naming the key to fix): exit status 3`,
    );
    return 3;
  },
};

const checkConfig: Command = {
  name: 'check-config',
  summary: 'validate a config file and print it resolved, secrets masked',
  usage: `Usage: pgrelay check-config [-c FILE | FILE] [--quiet]

Validates FILE (syntax, keys, types, wiring, \${ENV} references, topic_map keys, files and the
state directory), listing every problem, and prints the resolved config with defaults filled in
and secrets masked. Exit status 0 when valid, 2 otherwise.

Options:
${CONFIG_HELP}
  -q, --quiet         print nothing when valid
  -h, --help          show this help`,
  options: { ...configOption, quiet: { type: 'boolean', short: 'q' } },
  maxArguments: 1,
  run(values, positionals) {
    const file = configFile(values, positionals);
    const config = loadCommandConfig(values, positionals);
    if (!values.quiet) {
      process.stdout.write(displayConfig(configSchema, config) + '\n');
      process.stderr.write(`${file}: OK\n`);
    }
    return Promise.resolve(0);
  },
};

const version: Command = {
  name: 'version',
  summary: 'print the version',
  usage: 'Usage: pgrelay version',
  options: { help: { type: 'boolean', short: 'h' } },
  maxArguments: 0,
  run() {
    process.stdout.write(`pgrelay ${VERSION} (node ${process.versions.node})\n`);
    return Promise.resolve(0);
  },
};

export const COMMANDS: readonly Command[] = [run, checkConfig, version];
