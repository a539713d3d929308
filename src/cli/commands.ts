import { displayConfig } from '../config/display.js';
import { configSchema } from '../runtime/config-schema.js';
import { createLogger } from '../core/log.js';
import { createHttpServer, listen } from '../http/server.js';
import { Runtime } from '../runtime/runtime.js';
import { VERSION } from '../core/version.js';
import { CONFIG_HELP, type Command, configFile, configOption, loadCommandConfig } from './args.js';

const run: Command = {
  name: 'run',
  summary: 'run the sources and sinks a config file describes',
  usage: `Usage: pgrelay run [-c FILE | FILE]

Runs until SIGTERM or SIGINT, then stops taking input, delivers what is in flight, stores positions
and exits (within shutdown_timeout). A second signal exits at once; undelivered changes are sent
again after a restart.

Options:
${CONFIG_HELP}
  -h, --help          show this help`,
  options: configOption,
  maxArguments: 1,
  async run(values, positionals) {
    const config = loadCommandConfig(values, positionals);
    const log = createLogger(config.log.level);
    const runtime = await Runtime.create(config, log);
    const http = config.http.listen === 'off' ? undefined : createHttpServer(runtime, log);
    if (http !== undefined) {
      try {
        const bound = await listen(http, config.http.listen);
        log.info({ listen: bound }, `HTTP API on http://${bound}`);
      } catch (error) {
        runtime.dispose();
        throw new Error(`http.listen ${config.http.listen}: ${(error as Error).message}`, { cause: error });
      }
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
    const signal = await new Promise<NodeJS.Signals>((resolve) => {
      process.once('SIGTERM', resolve);
      process.once('SIGINT', resolve);
    });
    log.info({ signal }, `${signal}: stopping (deadline ${config.shutdown_timeout} ms)`);
    const force = (second: NodeJS.Signals) => {
      log.warn(
        { signal: second },
        `${second} again: exiting without waiting; undelivered changes will be sent again`,
      );
      process.exit(1);
    };
    process.once('SIGTERM', force);
    process.once('SIGINT', force);
    const clean = await runtime.stop();
    await http?.close();
    const unstored = runtime.stateFailure;
    if (clean) log.info('stopped cleanly; positions stored');
    else if (unstored !== undefined)
      log.error(
        { err: unstored },
        `stopped; positions NOT stored (a restart sends again what was delivered since the last stored ones): ${unstored.message}`,
      );
    else log.warn('shutdown deadline passed before every batch was delivered; the rest will be sent again');
    return clean ? 0 : 1;
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
