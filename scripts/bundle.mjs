// Bundles the compiled CLI (tsc's output) into one file: node bin/pgrelay and the packages run.
//   node scripts/bundle.mjs dist/src/cli/main.js dist/pgrelay.js
// One file instead of ~900 modules: measured at rest, the heap holds ~13 MB less (every module's
// source text and loader records), and start-up reads one file (docs/performance.md, Memory).
import fs from 'node:fs/promises';
import { createRequire } from 'node:module';
import path from 'node:path';
import process from 'node:process';
import { promisify } from 'node:util';
import { build } from 'esbuild';

const [entry, outfile] = process.argv.slice(2);
if (entry === undefined || outfile === undefined) {
  process.stderr.write('usage: node scripts/bundle.mjs ENTRY.js OUT.js\n');
  process.exit(2);
}

/**
 * Fails the build when a plugin applied fewer than `expected` times (`applied()` counts its uses;
 * by default, nowhere): the library it patches changed, and an upgrade is looked at rather than
 * silently losing the patch.
 */
function failUnlessApplied(bundle, applied, what, expected = 1) {
  bundle.onEnd((result) => {
    if (result.errors.length === 0 && applied() < expected)
      throw new Error(`${what}: revisit scripts/bundle.mjs`);
  });
}

/**
 * @platformatic/kafka compiles a JSON-schema validator (ajv) at load time for the options of every
 * client method, 38 of them, and pgrelay calls a handful. Compiled when first called instead: at rest
 * 5 MB less heap and 15 MB less RSS, 0.2 s less CPU to start (measured). Same validator, same
 * `errors`. The build fails if the library stops compiling them this way, so an upgrade is looked at.
 */
const lazyKafkaValidators = {
  name: 'lazy-kafka-validators',
  setup(bundle) {
    let compiled = 0;
    bundle.onLoad(
      { filter: /@platformatic[\\/]kafka[\\/]dist[\\/]clients[\\/].*options\.js$/ },
      async (args) => {
        const text = await fs.readFile(args.path, 'utf8');
        compiled += text.split('ajv.compile(').length - 1;
        const lazy =
          'function lazyCompile(schema) {\n' +
          '  let compiled;\n' +
          '  const validate = (data) => {\n' +
          '    compiled ??= ajv.compile(schema);\n' +
          '    const valid = compiled(data);\n' +
          '    validate.errors = compiled.errors;\n' +
          '    return valid;\n' +
          '  };\n' +
          '  return validate;\n' +
          '}\n';
        return { contents: lazy + text.replaceAll('ajv.compile(', 'lazyCompile('), loader: 'js' };
      },
    );
    failUnlessApplied(
      bundle,
      () => compiled,
      '@platformatic/kafka no longer compiles validators with ajv.compile',
    );
  },
};

/**
 * Node's modules that only some configurations use: TLS (tls; https and http2, which fastify requires
 * whether or not it serves them), hashing for SCRAM passwords (crypto), prom-client's cluster
 * aggregation (Node's net loads cluster itself for a listening server: it stays out only with the
 * HTTP API off). Each stands for a stub whose properties load the real module on first use, so a
 * pgrelay that never uses them never loads them: at rest 3-4 MB less RSS, measured (crypto alone
 * holds 3 MB). A plain function read before that (a library's `promisify(pbkdf2)` at load) is a
 * forwarder that loads the module when called; anything else read before then loads it then.
 */
const LAZY_BUILTINS = ['crypto', 'tls', 'https', 'http2', 'cluster'];
const lazyBuiltins = {
  name: 'lazy-builtins',
  setup(bundle) {
    const requireBuiltin = createRequire(import.meta.url);
    bundle.onResolve({ filter: new RegExp(`^(node:)?(${LAZY_BUILTINS.join('|')})$`) }, (args) =>
      // The stub's own require of the module is the real one, left to Node.
      args.namespace === 'lazy-builtin'
        ? undefined
        : { path: args.path.replace(/^node:/, ''), namespace: 'lazy-builtin' },
    );
    bundle.onLoad({ filter: /.*/, namespace: 'lazy-builtin' }, (args) => {
      const real = requireBuiltin(`node:${args.path}`);
      const properties = Object.getOwnPropertyNames(real).map((name) => {
        const key = JSON.stringify(name);
        const value = Object.getOwnPropertyDescriptor(real, name)?.value;
        const plainFunction =
          typeof value === 'function' &&
          /^[a-z]/.test(name) &&
          !/^class\b/.test(Function.prototype.toString.call(value)) &&
          value[promisify.custom] === undefined;
        const read = plainFunction ? `loaded?.[${key}] ?? forwarder(${key})` : `load()[${key}]`;
        return `${key}: { enumerable: true, get() { return ${read}; }, set(value) { load()[${key}] = value; } }`;
      });
      const contents =
        `let loaded;\n` +
        `const load = () => (loaded ??= require(${JSON.stringify(`node:${args.path}`)}));\n` +
        `const forwarders = {};\n` +
        `const forwarder = (key) => (forwarders[key] ??= function (...args) { return load()[key].apply(this, args); });\n` +
        `module.exports = Object.defineProperties({}, {\n${properties.join(',\n')}\n});\n`;
      return { contents, loader: 'js' };
    });
  },
};

/**
 * pg reads crypto's Web Crypto object when loaded, which loads crypto; it needs it only to hash a
 * password (SCRAM, md5). Read when first hashing instead, as for lazyBuiltins. The build fails if
 * pg stops reading it this way, so an upgrade is looked at.
 */
const lazyPgCrypto = {
  name: 'lazy-pg-crypto',
  setup(bundle) {
    const eager = {
      'const webCrypto = nodeCrypto.webcrypto || globalThis.crypto':
        'const webCrypto = lazyObject(() => nodeCrypto.webcrypto || globalThis.crypto)',
      'const subtleCrypto = webCrypto.subtle': 'const subtleCrypto = lazyObject(() => webCrypto.subtle)',
    };
    const lazyObject =
      'function lazyObject(resolve) {\n' +
      '  return new Proxy({}, { get(_, key) {\n' +
      '    const target = resolve();\n' +
      "    return typeof target[key] === 'function' ? target[key].bind(target) : target[key];\n" +
      '  } });\n' +
      '}\n';
    let patched = 0;
    bundle.onLoad({ filter: /[\\/]pg[\\/]lib[\\/]crypto[\\/]utils\.js$/ }, async (args) => {
      let text = await fs.readFile(args.path, 'utf8');
      for (const [from, to] of Object.entries(eager)) {
        if (!text.includes(from)) throw new Error(`pg no longer reads "${from}": revisit scripts/bundle.mjs`);
        text = text.replace(from, to);
      }
      patched += 1;
      return { contents: lazyObject + text, loader: 'js' };
    });
    failUnlessApplied(bundle, () => patched, 'pg/lib/crypto/utils.js is no longer bundled');
  },
};

/**
 * @platformatic/kafka imports its WebAssembly codecs (lz4, snappy, and a crc32c it uses only without
 * the native one) when loaded, which compiles and instantiates the module: 8 MB of RSS in an empty
 * node, measured. pgrelay needs them at the first compressed batch it sends or reads. Each export
 * stands for a forwarder that loads the module (external: it reads its .wasm file beside itself) on
 * first call. The build fails if one is not a function, so an upgrade is looked at.
 */
const LAZY_WASM = '@platformatic/wasm-utils';
const lazyWasmCodecs = {
  name: 'lazy-wasm-codecs',
  setup(bundle) {
    bundle.onResolve({ filter: /^@platformatic[\\/]wasm-utils$/ }, (args) =>
      // The forwarders' own require of the module is the real one, left external.
      args.namespace === 'lazy-wasm'
        ? { path: args.path, external: true }
        : { path: args.path, namespace: 'lazy-wasm' },
    );
    bundle.onLoad({ filter: /.*/, namespace: 'lazy-wasm' }, async () => {
      const real = await import(LAZY_WASM);
      const forwarders = Object.entries(real).map(([name, value]) => {
        if (typeof value !== 'function')
          throw new Error(`${LAZY_WASM} exports ${name}, not a function: revisit scripts/bundle.mjs`);
        return `export function ${name}(...args) { return load().${name}(...args); }`;
      });
      const contents =
        `let loaded;\n` +
        `const load = () => (loaded ??= require(${JSON.stringify(LAZY_WASM)}));\n` +
        forwarders.join('\n');
      return { contents, loader: 'js' };
    });
  },
};

/**
 * @platformatic/kafka checks a client's options with its validators only when the client is
 * created with `strict: true` (default false), except the consumer's group options, which it checks
 * always: the first consumer compiles that validator, 60 to 140 ms of CPU at start (--cpu-prof),
 * for options pgrelay builds itself from a checked config. Those follow `strict` too here. The
 * build fails if the library stops checking them this way, so an upgrade is looked at.
 */
const GROUP_OPTIONS_CHECK = '#validateGroupOptions(options, validator) {';
const groupOptionsFollowStrict = {
  name: 'group-options-follow-strict',
  setup(bundle) {
    let patched = 0;
    bundle.onLoad(
      { filter: /@platformatic[\\/]kafka[\\/]dist[\\/]clients[\\/]consumer[\\/]consumer\.js$/ },
      async (args) => {
        const text = await fs.readFile(args.path, 'utf8');
        if (!text.includes(GROUP_OPTIONS_CHECK)) return undefined;
        patched += 1;
        return {
          contents: text.replace(
            GROUP_OPTIONS_CHECK,
            `${GROUP_OPTIONS_CHECK}\n        if (!this[kOptions].strict) return;`,
          ),
          loader: 'js',
        };
      },
    );
    failUnlessApplied(
      bundle,
      () => patched,
      '@platformatic/kafka no longer checks group options in #validateGroupOptions',
    );
  },
};

/**
 * @platformatic/kafka's index re-exports its schema registries, whose module imports Avro (avsc) and
 * three JSON-schema validators (ajv) at load; pgrelay uses no registry. Marked free of side
 * effects, the bundle leaves out what nothing uses (148 KB of it): at rest 1.3 MB less RSS and
 * 0.07 s less CPU to start, measured.
 */
const unusedKafkaRegistries = {
  name: 'unused-kafka-registries',
  setup(bundle) {
    let marked = 0;
    bundle.onResolve({ filter: /^\.\/registries\/index\.js$/ }, (args) => {
      if (!/@platformatic[\\/]kafka[\\/]dist$/.test(args.resolveDir)) return undefined;
      marked += 1;
      return { path: path.join(args.resolveDir, args.path), sideEffects: false };
    });
    failUnlessApplied(bundle, () => marked, '@platformatic/kafka no longer re-exports ./registries/index.js');
  },
};

/**
 * keepNames gives every named function its name when it is made, through Object.defineProperty,
 * and for a closure made at each call that cost 5 to 7 µs a call here (measured in make bench's
 * runs; docs/performance.md, "Names"). @platformatic/kafka makes four per request: those are left
 * unnamed (wrapped in `(0, ...)`, which names nothing). The build fails if one is no longer found.
 */
const KAFKA_REQUEST_CLOSURES = {
  'network/connection.js': [
    'const completePayloadQueue = () => {',
    'const onPayloadError = (error) => {',
    'const onPayload = (payload) => {',
  ],
  'apis/callbacks.js': ['function callback(error, payload) {'],
};

/**
 * `text` with the closure that starts at `head` wrapped in `(0, ...)`: it ends at the first `}` as
 * indented as `head`. A function declaration becomes a const of the same name.
 */
function unnamed(text, head) {
  const start = text.indexOf(head);
  if (start < 0) return undefined;
  const indent = text.slice(text.lastIndexOf('\n', start) + 1, start);
  const close = `\n${indent}}`;
  const end = text.indexOf(close, start);
  if (end < 0) return undefined;
  const declared = head.startsWith('function ')
    ? head.replace(/^function (\w+)\(/, 'const $1 = (0, function (')
    : head.replace(' = ', ' = (0, ');
  let after = end + close.length;
  if (text[after] === ';') after += 1;
  return `${text.slice(0, start)}${declared}${text.slice(start + head.length, end + close.length)});${text.slice(after)}`;
}

const unnamedKafkaRequestClosures = {
  name: 'unnamed-kafka-request-closures',
  setup(bundle) {
    let patched = 0;
    const expected = Object.values(KAFKA_REQUEST_CLOSURES).flat().length;
    bundle.onLoad(
      { filter: /@platformatic[\\/]kafka[\\/]dist[\\/](network|apis)[\\/]\w+\.js$/ },
      async (args) => {
        const file = Object.keys(KAFKA_REQUEST_CLOSURES).find((name) =>
          args.path.endsWith(path.normalize(name)),
        );
        if (file === undefined) return undefined;
        let text = await fs.readFile(args.path, 'utf8');
        for (const head of KAFKA_REQUEST_CLOSURES[file]) {
          const changed = unnamed(text, head);
          if (changed === undefined) continue;
          text = changed;
          patched += 1;
        }
        return { contents: text, loader: 'js' };
      },
    );
    failUnlessApplied(
      bundle,
      () => patched,
      `@platformatic/kafka: not all of its ${expected} per-request closures were found`,
      expected,
    );
  },
};

await build({
  entryPoints: [entry],
  outfile,
  bundle: true,
  platform: 'node',
  format: 'esm',
  target: 'node22',
  // Native addons, and the codecs' WebAssembly module, which reads its .wasm file beside itself.
  external: ['better-sqlite3', '@node-rs/crc32', '@platformatic/wasm-utils', 'pg-native'],
  // Bundled CommonJS packages require() Node's modules and the externals.
  banner: {
    js: "import { createRequire as pgrelayBundleRequire } from 'node:module'; const require = pgrelayBundleRequire(import.meta.url);",
  },
  // V8 keeps the bundle's text in the heap for as long as pgrelay runs (it compiles functions
  // lazily from it): shorter local names made it 2.5 MB instead of 3.6, and pgrelay 1-1.5 MB
  // smaller at rest (measured). keepNames keeps functions' and classes' own names, so stack traces
  // and error classes read as in the source.
  minifyWhitespace: true,
  minifyIdentifiers: true,
  minifySyntax: true,
  keepNames: true,
  // One non-ASCII character would make V8 hold the whole source text as two bytes per character.
  charset: 'ascii',
  legalComments: 'none',
  logLevel: 'warning',
  plugins: [
    lazyKafkaValidators,
    groupOptionsFollowStrict,
    lazyBuiltins,
    lazyPgCrypto,
    lazyWasmCodecs,
    unusedKafkaRegistries,
    unnamedKafkaRequestClosures,
  ],
});
