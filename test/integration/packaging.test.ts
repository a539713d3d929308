/**
 * The DEB and RPM packages: `make deb rpm` builds them, lintian and rpmlint find nothing beyond the
 * accepted overrides, the .rpm installs into a throwaway root, and the .deb is installed on this
 * machine for real: the installed pgrelay streams PostgreSQL rows into Kafka as the pgrelay user,
 * an upgrade keeps config and state, remove keeps them, purge deletes them.
 *
 * Installing touches the machine (the pgrelay user, /usr/lib/pgrelay, /etc/pgrelay), so runs on
 * one machine take turns (a lock), and a run cleans up what a failed run left, but never a
 * pgrelay that someone else installed.
 */
import assert from 'node:assert/strict';
import { type ChildProcess, spawn } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { cdcFixture, kafkaSink, postgresSource } from '../harness/cdc.js';
import { ROOT, type StatusBody } from '../harness/pgrelay.js';
import {
  type CommandResult,
  freePort,
  runCommand,
  startService,
  stopProcess,
  tempDir,
  waitFor,
  within,
} from '../harness/processes.js';

const VERSION = (JSON.parse(fs.readFileSync(path.join(ROOT, 'package.json'), 'utf8')) as { version: string })
  .version;
const PKG_VERSION = VERSION.replaceAll('-', '~');
const DEB = path.join(ROOT, `packaging/build/pgrelay_${PKG_VERSION}_amd64.deb`);
const RPM = path.join(ROOT, `packaging/build/pgrelay-${PKG_VERSION}.x86_64.rpm`);
const LOCK = path.join(os.tmpdir(), 'pgrelay-packaging-test.lock');
/** Present while this test's package is (or may be) installed: what tells leftovers from a real install. */
const MARKER = path.join(os.tmpdir(), 'pgrelay-packaging-test.installed');
const CONFIG = '/etc/pgrelay/pgrelay.toml';
const STATE_DIR = '/var/lib/pgrelay';
const STATE_FILE = `${STATE_DIR}/packaging-test.db`;
const WANTS = '/etc/systemd/system/multi-user.target.wants';
const ENABLED = ['pgrelay.service', 'pgrelay@packaging-test.service'];

/** How long one command other than the build may take: lintian took 92 s at a load average of 18. */
const COMMAND_MS = 300_000;
/** `make deb rpm` stages, compiles and packs twice: minutes on a loaded machine. */
const BUILD_MS = 600_000;
/** Another run on this machine holds the lock for about as long as this test takes. */
const LOCK_MS = 900_000;
/** The tests after the build: about a minute on a loaded machine. */
const TESTS_MS = 600_000;

interface RunOptions {
  env?: NodeJS.ProcessEnv;
  timeoutMs?: number;
}

function run(command: string, args: string[], options: RunOptions = {}): Promise<CommandResult> {
  return runCommand(command, args, { env: options.env, timeoutMs: options.timeoutMs ?? COMMAND_MS });
}

async function ok(command: string, args: string[], options?: RunOptions): Promise<string> {
  const result = await run(command, args, options);
  assert.equal(
    result.code,
    0,
    `${command} ${args.join(' ')} exited with ${result.code}:\n${result.stdout}${result.stderr}`,
  );
  return result.stdout;
}

/** dpkg, waiting while another dpkg or apt-get on the machine holds the package database. */
async function dpkg(...args: string[]): Promise<string> {
  for (let attempt = 1; ; attempt++) {
    const result = await run('dpkg', args);
    if (result.code === 0) return result.stdout;
    if (!/(is|was) locked/.test(result.stderr) || attempt === 180) {
      assert.fail(`dpkg ${args.join(' ')} exited with ${result.code}:\n${result.stdout}${result.stderr}`);
    }
    await new Promise((resolve) => setTimeout(resolve, 1000));
  }
}

async function debInstalled(): Promise<boolean> {
  const result = await run('dpkg-query', ['-W', '-f=${db:Status-Status}', 'pgrelay']);
  return result.code === 0 && result.stdout !== 'not-installed';
}

/** Runs as `user` (and `group`), as systemd's User= would, without systemd. */
function asUser(user: string, group: string, command: string, args: string[]): Promise<CommandResult> {
  return run('setpriv', [`--reuid=${user}`, `--regid=${group}`, '--init-groups', '--', command, ...args]);
}

function newest(versions: string[]): string {
  return versions.sort((a, b) => a.localeCompare(b, 'en', { numeric: true })).at(-1)!;
}

/** The highest GLIBC_x.y symbol version an ELF file uses: the oldest glibc it runs on. */
async function glibcNeeded(file: string): Promise<string> {
  const symbols = await ok('objdump', ['-T', file]);
  const versions = [...symbols.matchAll(/\bGLIBC_(\d+(?:\.\d+)+)/g)].map((m) => m[1]!);
  assert.ok(versions.length > 0, `${file} uses no versioned glibc symbol`);
  return newest(versions);
}

function elfFiles(dir: string): string[] {
  return fs
    .readdirSync(dir, { recursive: true, encoding: 'utf8' })
    .map((entry) => path.join(dir, entry))
    .filter((file) => {
      if (!fs.lstatSync(file).isFile()) return false;
      const fd = fs.openSync(file, 'r');
      const magic = Buffer.alloc(4);
      fs.readSync(fd, magic, 0, 4, 0);
      fs.closeSync(fd);
      return magic.equals(Buffer.from('\x7fELF', 'latin1'));
    });
}

/** The pgrelay units enabled under `root` (links to unit files, also to ones that are gone). */
function enabledUnits(root = '/'): string[] {
  const wants = path.join(root, WANTS);
  return fs.existsSync(wants)
    ? fs
        .readdirSync(wants)
        .filter((unit) => unit.startsWith('pgrelay'))
        .sort()
    : [];
}

function mode(file: string): string {
  return (fs.statSync(file).mode & 0o7777).toString(8);
}

/** `Key=value` lines of a unit file (the last one wins, as in systemd, for single-valued keys). */
function unitSettings(file: string): Map<string, string> {
  const settings = new Map<string, string>();
  for (const line of fs.readFileSync(file, 'utf8').split('\n')) {
    const match = /^([A-Za-z]+)=(.*)$/.exec(line);
    if (match) settings.set(match[1]!, match[2]!);
  }
  return settings;
}

/** The pinned Node.js version the packages bundle, whatever the system node is. */
async function pinnedNode(): Promise<string> {
  const dist = (await ok(path.join(ROOT, 'scripts/toolchain.sh'), ['node-dist'])).trim();
  return (await ok(path.join(dist, 'bin/node'), ['-p', 'process.versions.node'])).trim();
}

let lockHolder: ChildProcess | undefined;
let relay: ChildProcess | undefined;
const scratch: string[] = [];
let debTree = '';
let glibc = '';
/** lintian and rpmlint, started once the packages are built; their tests come last. */
let linted: { lintian: Promise<CommandResult>; rpmlint: Promise<CommandResult> } | undefined;

/** A command's result, or its failure (a timeout) as a result the test reports. */
function settled(running: Promise<CommandResult>): Promise<CommandResult> {
  return running.catch((error: unknown) => ({ code: null, stdout: '', stderr: String(error) }));
}

/**
 * Takes the machine-wide packaging lock: `flock` holds it for as long as `cat` reads its stdin,
 * which closes when this process ends, however it ends.
 */
async function lockMachine(): Promise<ChildProcess> {
  const holder = spawn('flock', [LOCK, '-c', 'echo locked && exec cat >/dev/null'], {
    stdio: ['pipe', 'pipe', 'inherit'],
  });
  const locked = new Promise<void>((resolve, reject) => {
    holder.stdout.once('data', () => resolve());
    holder.once('exit', (code) => reject(new Error(`flock ${LOCK} exited with ${code}`)));
  });
  try {
    await within(`the packaging lock ${LOCK}, held by another test run on this machine`, locked, LOCK_MS);
  } catch (error) {
    holder.kill();
    throw error;
  }
  return holder;
}

/** Purges what a run of this test installed; refuses to touch a pgrelay it did not install. */
async function purgeOurInstall(): Promise<void> {
  if (!fs.existsSync(MARKER)) {
    if (await debInstalled()) {
      throw new Error(
        'pgrelay is installed on this machine, not by this test: it will not purge it (dpkg --purge pgrelay to run this test)',
      );
    }
    return;
  }
  if (await debInstalled()) await dpkg('--purge', 'pgrelay');
  // A run killed half-way through a purge leaves pieces that postrm would have removed.
  fs.rmSync('/etc/pgrelay', { recursive: true, force: true });
  fs.rmSync(STATE_DIR, { recursive: true, force: true });
  for (const unit of enabledUnits()) fs.rmSync(path.join(WANTS, unit));
  if ((await run('getent', ['passwd', 'pgrelay'])).code === 0) await ok('userdel', ['pgrelay']);
  if ((await run('getent', ['group', 'pgrelay'])).code === 0) await ok('groupdel', ['pgrelay']);
  fs.rmSync(MARKER);
}

/** A root directory holding just what the RPM's scriptlets and pgrelay need (sh, systemctl, getent, useradd) and their libraries. */
async function throwawayRoot(): Promise<string> {
  const root = tempDir('pgrelay-rpm-root-');
  scratch.push(root);
  fs.chmodSync(root, 0o755); // a root directory, not a private temporary one
  for (const dir of ['usr/bin', 'usr/sbin', 'usr/lib', 'usr/lib64', 'etc', 'dev', 'tmp']) {
    fs.mkdirSync(path.join(root, dir), { recursive: true });
  }
  for (const dir of ['bin', 'sbin', 'lib', 'lib64']) fs.symlinkSync(`usr/${dir}`, path.join(root, dir));
  for (const program of [
    '/bin/sh',
    '/usr/bin/systemctl',
    '/usr/bin/getent',
    '/usr/sbin/groupadd',
    '/usr/sbin/useradd',
  ]) {
    copyInto(root, program);
    await copyLibraries(root, program);
  }
  fs.writeFileSync(path.join(root, 'etc/passwd'), 'root:x:0:0:root:/root:/bin/sh\n');
  fs.writeFileSync(path.join(root, 'etc/group'), 'root:x:0:\n');
  fs.writeFileSync(path.join(root, 'etc/shadow'), 'root:*::0:::::\n', { mode: 0o640 });
  fs.writeFileSync(path.join(root, 'etc/gshadow'), 'root:*::\n', { mode: 0o640 });
  fs.writeFileSync(path.join(root, 'etc/nsswitch.conf'), 'passwd: files\ngroup: files\nshadow: files\n');
  fs.copyFileSync('/etc/login.defs', path.join(root, 'etc/login.defs'));
  await ok('mknod', ['-m', '666', path.join(root, 'dev/null'), 'c', '1', '3']);
  return root;
}

function copyInto(root: string, file: string): void {
  const target = path.join(root, file);
  fs.mkdirSync(path.dirname(target), { recursive: true });
  fs.copyFileSync(fs.realpathSync(file), target);
}

/** The host's copies of the shared libraries `binary` loads, at the same paths inside `root`. */
async function copyLibraries(root: string, binary: string): Promise<void> {
  for (const library of (await ok('ldd', [binary])).match(/\/\S+/g) ?? []) copyInto(root, library);
}

function account(root: string, file: 'passwd' | 'group', name: string): string[] {
  const line = fs
    .readFileSync(path.join(root, 'etc', file), 'utf8')
    .split('\n')
    .find((l) => l.startsWith(`${name}:`));
  assert.ok(line, `${name} in ${root}/etc/${file}`);
  return line.split(':');
}

// Its before() waits for the machine's packaging lock and builds both packages: longer than any test.
describe('the DEB and RPM packages', { timeout: LOCK_MS + BUILD_MS + TESTS_MS }, () => {
  before(async () => {
    lockHolder = await lockMachine();
    await purgeOurInstall();
    // -j2: the two packages are packed side by side from one stage.
    await ok('make', ['--no-print-directory', '-j2', '-C', ROOT, 'deb', 'rpm'], { timeoutMs: BUILD_MS });
    debTree = tempDir('pgrelay-deb-tree-');
    scratch.push(debTree);
    await ok('dpkg-deb', ['-x', DEB, debTree]);
    glibc = newest(await Promise.all(elfFiles(debTree).map(glibcNeeded)));
    linted = {
      lintian: settled(run('lintian', [DEB])),
      rpmlint: settled(run('rpmlint', ['-c', path.join(ROOT, 'packaging/rpm/rpmlint.toml'), RPM])),
    };
  });

  after(async () => {
    if (relay) await stopProcess(relay, 'SIGKILL', 5000);
    if (linted) await Promise.all([linted.lintian, linted.rpmlint]);
    try {
      await purgeOurInstall();
    } finally {
      for (const dir of scratch) fs.rmSync(dir, { recursive: true, force: true });
      lockHolder?.stdin?.end();
    }
  });

  it('the .deb: version from package.json, library dependencies from the ELF files, the service layout', async () => {
    const field = async (name: string) => (await ok('dpkg-deb', ['-f', DEB, name])).trim();
    assert.equal(await field('Package'), 'pgrelay');
    assert.equal(await field('Version'), PKG_VERSION);
    assert.equal(await field('Architecture'), 'amd64');
    const depends = (await field('Depends')).split(', ');
    // glibc from the symbols the node binary and the SQLite addon use (GLIBC_2.34 in better-sqlite3's).
    assert.ok(
      depends.includes(`libc6 (>= ${glibc})`),
      `Depends: ${depends.join(', ')}; needs glibc ${glibc}`,
    );
    assert.ok(
      depends.some((d) => d.startsWith('libstdc++6')),
      'node and the addon link libstdc++.so.6',
    );
    assert.ok(depends.includes('adduser'), 'postinst creates the pgrelay user with adduser');
    assert.ok(!depends.some((d) => /nodejs|libssl/.test(d)), 'Node (with its OpenSSL) is bundled');
    assert.equal((await ok('dpkg-deb', ['-I', DEB, 'conffiles'])).trim(), CONFIG);

    const listing = new Map<string, { mode: string; owner: string }>();
    for (const line of (await ok('dpkg-deb', ['-c', DEB])).trim().split('\n')) {
      const [perms, owner, , , , file] = line.split(/\s+/);
      listing.set(file!.replace(/^\.\//, '/').replace(/\/$/, ''), { mode: perms!, owner: owner! });
    }
    const expected: Record<string, string> = {
      '/usr/bin/pgrelay': '-rwxr-xr-x',
      '/usr/lib/pgrelay/node/bin/node': '-rwxr-xr-x',
      '/usr/lib/pgrelay/dist/pgrelay.js': '-rw-r--r--',
      '/usr/lib/pgrelay/package.json': '-rw-r--r--',
      '/usr/lib/pgrelay/node_modules/better-sqlite3/prebuilds/linux-x64.node': '-rw-r--r--',
      '/usr/lib/systemd/system/pgrelay.service': '-rw-r--r--',
      '/usr/lib/systemd/system/pgrelay@.service': '-rw-r--r--',
      [CONFIG]: '-rw-r-----',
      [STATE_DIR]: 'drwxr-x---',
      '/usr/share/man/man1/pgrelay.1.gz': '-rw-r--r--',
      '/usr/share/doc/pgrelay/copyright': '-rw-r--r--',
      '/usr/share/doc/pgrelay/docs/performance.md': '-rw-r--r--',
      '/usr/share/doc/pgrelay/examples/kafka-relay.toml': '-rw-r--r--',
      '/usr/share/doc/pgrelay/examples/tenant-topics.js': '-rw-r--r--',
      '/usr/share/doc/pgrelay/contrib/pgrelay-dashboard.json': '-rw-r--r--',
      '/usr/share/doc/pgrelay/contrib/pgrelay-alerts.yml': '-rw-r--r--',
      '/usr/share/doc/pgrelay/contrib/pgrelay-alerts.test.yml': '-rw-r--r--',
    };
    for (const [file, perms] of Object.entries(expected)) {
      assert.equal(listing.get(file)?.mode, perms, `${file} in the .deb`);
    }
    const paths = [...listing.keys()];
    assert.deepEqual(
      paths.filter((p) =>
        /\/dist\/(src|plugins|test|bench)\b|\.map$|node_modules\/(typescript|eslint|prettier|@types|esbuild)\//.test(
          p,
        ),
      ),
      [],
      'the bundle and no compiled modules, tests, benchmarks, source maps or dev dependencies',
    );
    assert.deepEqual(
      paths.filter((p) => p.endsWith('.node') && !/[/.]linux-x64(-gnu)?\.node$/.test(p)),
      [],
      'no addons for other systems',
    );
    assert.deepEqual(
      [...listing.values()].filter((entry) => entry.owner !== 'root/root'),
      [],
      'every file in the archive is root:root (postinst hands out the pgrelay group)',
    );
    const packaged = JSON.parse(
      fs.readFileSync(path.join(debTree, 'usr/lib/pgrelay/package.json'), 'utf8'),
    ) as { version: string };
    assert.equal(packaged.version, VERSION);
  });

  it('the .rpm: metadata, library requirements, files and their owners', async () => {
    assert.equal(
      await ok('rpm', ['-qp', '--qf', '%{NAME} %{VERSION} %{RELEASE} %{ARCH}', RPM]),
      `pgrelay ${PKG_VERSION} 1 x86_64`,
    );
    const requires = (await ok('rpm', ['-qp', '--requires', RPM])).split('\n');
    assert.ok(requires.includes(`libc.so.6(GLIBC_${glibc})(64bit)`), requires.join('\n'));
    assert.ok(requires.includes('libstdc++.so.6()(64bit)'), requires.join('\n'));
    assert.deepEqual(
      (await ok('rpm', ['-qp', '--provides', RPM])).trim().split('\n').sort(),
      [
        `config(pgrelay) = ${PKG_VERSION}-1`,
        `pgrelay = ${PKG_VERSION}-1`,
        `pgrelay(x86-64) = ${PKG_VERSION}-1`,
      ],
      'the bundled runtime and addon provide nothing to other packages',
    );
    const files = new Map<string, string>();
    const query = '[%{FILEMODES:perms} %{FILEUSERNAME}:%{FILEGROUPNAME} %{FILEFLAGS:fflags}|%{FILENAMES}\n]';
    for (const line of (await ok('rpm', ['-qp', '--qf', query, RPM])).trim().split('\n')) {
      const [attributes, file] = line.split('|');
      files.set(file!, attributes!.trim());
    }
    assert.equal(
      files.get(CONFIG),
      '-rw-r----- root:pgrelay cn',
      'config: %config(noreplace), group pgrelay',
    );
    assert.equal(files.get(STATE_DIR), 'drwxr-x--- pgrelay:pgrelay');
    assert.equal(files.get('/usr/bin/pgrelay'), '-rwxr-xr-x root:root');
    // The same staged tree as the .deb: every file the .deb has, the .rpm has.
    const debFiles = fs
      .readdirSync(debTree, { recursive: true, encoding: 'utf8' })
      .filter((entry) => fs.lstatSync(path.join(debTree, entry)).isFile())
      .map((entry) => `/${entry}`)
      .filter((file) => !/^\/usr\/share\/(lintian|doc\/pgrelay\/changelog)/.test(file));
    assert.deepEqual(
      debFiles.filter((file) => !files.has(file)),
      [],
    );
  });

  it('the .rpm in a throwaway root: scriptlets create the user, files get their owners, upgrade and erase keep config and state', async () => {
    const root = await throwawayRoot();
    const rpm = (...args: string[]) => ok('rpm', ['--root', root, ...args]);
    await rpm('--initdb');
    // --nodeps: the throwaway root has no rpm database of libraries; the requirements are checked above.
    await rpm('--install', '--nodeps', RPM);

    const [, , uid, gid, , home, shell] = account(root, 'passwd', 'pgrelay');
    assert.ok(Number(uid) < 1000, `pgrelay is a system user (uid ${uid})`);
    assert.equal(account(root, 'group', 'pgrelay')[2], gid);
    assert.equal(home, STATE_DIR);
    assert.equal(shell, '/usr/sbin/nologin');
    const config = fs.statSync(path.join(root, CONFIG));
    assert.deepEqual([config.uid, config.gid, mode(path.join(root, CONFIG))], [0, Number(gid), '640']);
    const state = fs.statSync(path.join(root, STATE_DIR));
    assert.deepEqual(
      [state.uid, state.gid, mode(path.join(root, STATE_DIR))],
      [Number(uid), Number(gid), '750'],
    );
    for (const unit of ['pgrelay.service', 'pgrelay@.service']) {
      assert.equal(
        fs.readFileSync(path.join(root, 'usr/lib/systemd/system', unit), 'utf8'),
        fs.readFileSync(path.join(debTree, 'usr/lib/systemd/system', unit), 'utf8'),
        `${unit}: the same unit as the .deb's`,
      );
    }

    // The runtime's libraries and the addons' (@node-rs/crc32 needs librt).
    for (const elf of elfFiles(path.join(root, 'usr/lib/pgrelay'))) await copyLibraries(root, elf);
    const inRoot = (user: string, ...args: string[]) =>
      run('/usr/sbin/chroot', [`--userspec=${user}`, root, ...args], { env: { PATH: '/usr/bin' } });
    const version = await inRoot(`${uid}:${gid}`, '/usr/bin/pgrelay', 'version');
    assert.equal(version.stdout, `pgrelay ${VERSION} (node ${await pinnedNode()})\n`, version.stderr);
    const check = await inRoot(`${uid}:${gid}`, '/usr/bin/pgrelay', 'check-config', '-q');
    assert.equal(check.code, 0, check.stderr);
    const stranger = await inRoot('65534:65534', '/usr/bin/pgrelay', 'check-config', '-q');
    assert.equal(stranger.code, 2, 'the config is not readable outside the pgrelay group');
    assert.match(stranger.stderr, /EACCES/);

    fs.appendFileSync(path.join(root, CONFIG), '# edited by the operator\n');
    fs.writeFileSync(path.join(root, STATE_DIR, 'state.db'), 'positions');
    await rpm('--upgrade', '--replacepkgs', '--nodeps', RPM);
    assert.match(fs.readFileSync(path.join(root, CONFIG), 'utf8'), /# edited by the operator/);
    assert.ok(!fs.existsSync(path.join(root, `${CONFIG}.rpmnew`)));
    assert.ok(fs.existsSync(path.join(root, STATE_DIR, 'state.db')));

    await ok('/usr/sbin/chroot', [root, '/usr/bin/systemctl', 'enable', ...ENABLED], {
      env: { PATH: '/usr/bin' },
    });
    assert.deepEqual(enabledUnits(root), ENABLED);
    await rpm('--erase', 'pgrelay');
    assert.deepEqual(enabledUnits(root), [], 'erase disables the units, the instances too');
    assert.ok(!fs.existsSync(path.join(root, 'usr/lib/pgrelay')));
    assert.ok(!fs.existsSync(path.join(root, 'usr/bin/pgrelay')));
    assert.match(fs.readFileSync(path.join(root, `${CONFIG}.rpmsave`), 'utf8'), /# edited by the operator/);
    assert.equal(fs.readFileSync(path.join(root, STATE_DIR, 'state.db'), 'utf8'), 'positions');
    assert.equal(account(root, 'passwd', 'pgrelay')[2], uid, 'erase keeps the user (RPM convention)');
  });

  it('the .deb installed: the pgrelay system user, its config and state directory, verified units', async () => {
    fs.writeFileSync(MARKER, `${process.pid}\n`);
    await dpkg('--install', DEB);

    const [, , uid, gid, , home, shell] = (await ok('getent', ['passwd', 'pgrelay'])).trim().split(':');
    assert.ok(Number(uid) < 1000, `pgrelay is a system user (uid ${uid})`);
    assert.equal((await ok('getent', ['group', 'pgrelay'])).split(':')[2], gid);
    assert.equal(home, STATE_DIR);
    assert.equal(shell, '/usr/sbin/nologin');
    const config = fs.statSync(CONFIG);
    assert.deepEqual([config.uid, config.gid, mode(CONFIG)], [0, Number(gid), '640']);
    const state = fs.statSync(STATE_DIR);
    assert.deepEqual([state.uid, state.gid, mode(STATE_DIR)], [Number(uid), Number(gid), '750']);

    const version = await asUser('pgrelay', 'pgrelay', '/usr/bin/pgrelay', ['version']);
    assert.equal(version.stdout, `pgrelay ${VERSION} (node ${await pinnedNode()})\n`, version.stderr);
    // No -c: the installed default is /etc/pgrelay/pgrelay.toml, the unedited sample.
    const check = await asUser('pgrelay', 'pgrelay', '/usr/bin/pgrelay', ['check-config']);
    assert.equal(check.code, 0, check.stderr);
    assert.match(check.stderr, /\/etc\/pgrelay\/pgrelay\.toml: OK/);
    const stranger = await asUser('nobody', 'nogroup', '/usr/bin/pgrelay', ['check-config']);
    assert.equal(stranger.code, 2, 'the config is not readable outside the pgrelay group');
    assert.match(stranger.stderr, /EACCES/);

    const verify = await run('systemd-analyze', ['verify', ...ENABLED]);
    assert.equal(verify.code, 0, verify.stderr);
    assert.equal(verify.stderr, '', 'systemd-analyze verify has nothing to say');
    const security = await ok('systemd-analyze', ['security', '--offline=yes', 'pgrelay.service']);
    const exposure = Number(/Overall exposure level for pgrelay\.service: ([\d.]+)/.exec(security)?.[1]);
    assert.ok(
      exposure <= 2,
      `systemd-analyze security: exposure ${exposure}, want at most 2 ("OK")\n${security}`,
    );
    // Installing does not enable the service (the sample config names example hosts); the operator
    // does, as the README says. Without a running systemd, enable only links the units.
    assert.deepEqual(enabledUnits(), []);
    await ok('systemctl', ['enable', ...ENABLED]);
    assert.deepEqual(enabledUnits(), ENABLED);

    for (const [unit, name] of [
      ['pgrelay.service', 'pgrelay'],
      ['pgrelay@.service', '%i'],
    ] as const) {
      const settings = unitSettings(`/usr/lib/systemd/system/${unit}`);
      assert.equal(settings.get('User'), 'pgrelay', unit);
      assert.equal(
        settings.get('ExecStartPre'),
        `/usr/bin/pgrelay check-config --quiet -c /etc/pgrelay/${name}.toml`,
        unit,
      );
      assert.equal(settings.get('ExecStart'), `/usr/bin/pgrelay run -c /etc/pgrelay/${name}.toml`, unit);
      assert.equal(settings.get('Restart'), 'on-failure', unit);
      // 2: a bad config; 3: stopped while a source or sink had failed for good. Neither is fixed by a restart.
      assert.equal(settings.get('RestartPreventExitStatus'), '2 3', unit);
      // A reload validates first, then signals: an invalid config fails `systemctl reload`.
      const reloads = fs
        .readFileSync(`/usr/lib/systemd/system/${unit}`, 'utf8')
        .split('\n')
        .filter((line) => line.startsWith('ExecReload='));
      assert.deepEqual(
        reloads,
        [
          `ExecReload=/usr/bin/pgrelay check-config --quiet -c /etc/pgrelay/${name}.toml`,
          'ExecReload=/bin/kill -HUP $MAINPID',
        ],
        unit,
      );
      assert.equal(settings.get('StateDirectory'), 'pgrelay', unit);
      assert.equal(settings.get('ReadWritePaths'), STATE_DIR, unit);
      for (const key of ['NoNewPrivileges', 'ProtectHome', 'PrivateTmp'])
        assert.equal(settings.get(key), 'yes', unit);
      assert.equal(settings.get('ProtectSystem'), 'strict', unit);
      // The sample's shutdown_timeout is 30s: systemd must wait longer before SIGKILL.
      assert.ok(Number(/^(\d+)s$/.exec(settings.get('TimeoutStopSec') ?? '')?.[1]) > 30, unit);
    }
  });

  it('the installed pgrelay streams rows from PostgreSQL into Kafka as the pgrelay user', async () => {
    const fixture = await cdcFixture('pgrelay_pkg');
    await fixture.sql('CREATE TABLE items (id int PRIMARY KEY, name text NOT NULL)');
    const topic = fixture.topic('items');
    const port = await freePort();
    const dir = tempDir('pgrelay-pkg-run-');
    scratch.push(dir);
    fs.chmodSync(dir, 0o755);
    const configFile = path.join(dir, 'pgrelay.toml');
    fs.writeFileSync(
      configFile,
      `stats_interval = "off"\n[http]\nlisten = "127.0.0.1:${port}"\n[state]\npath = "${STATE_FILE}"\n` +
        postgresSource('pkg', fixture, ['public.items']) +
        kafkaSink('out', fixture, ['pkg'], `topic_map = { "public.items" = "${topic}" }`),
      { mode: 0o644 },
    );
    const logFile = path.join(dir, 'pgrelay.log');
    // A registered service: if this run dies, the next harness run reaps it (it would block userdel).
    const setpriv = ['--reuid=pgrelay', '--regid=pgrelay', '--init-groups', '--'];
    relay = startService(
      'pgrelay',
      'setpriv',
      [...setpriv, '/usr/bin/pgrelay', 'run', '-c', configFile],
      logFile,
    );
    const child = relay;
    const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
    try {
      const status = await waitFor(
        'the installed pgrelay to report every component running',
        async () => {
          const response = await fetch(`http://127.0.0.1:${port}/status`);
          const body = (await response.json()) as StatusBody & { version: string };
          return body.status === 'ok' ? body : undefined;
        },
        60_000,
        logFile,
      );
      assert.equal(status.version, VERSION);

      await fixture.sql("INSERT INTO items VALUES (1, 'ann'), (2, 'bob'), (3, 'cy')");
      const events = await fixture.events(topic, 3);
      assert.deepEqual(
        events.map((e) => [e.action, e.columns?.name]),
        [
          ['insert', 'ann'],
          ['insert', 'bob'],
          ['insert', 'cy'],
        ],
      );

      child.kill('SIGTERM');
      assert.equal(
        await within('the installed pgrelay to exit after SIGTERM', exited, 60_000),
        0,
        fs.readFileSync(logFile, 'utf8'),
      );
      const uid = Number((await ok('id', ['-u', 'pgrelay'])).trim());
      assert.equal(fs.statSync(STATE_FILE).uid, uid, 'the positions are written by the pgrelay user');
    } finally {
      await stopProcess(child, 'SIGKILL', 5000);
      relay = undefined;
      await fixture
        .sql('SELECT pg_drop_replication_slot($1)', [`pgrelay_pkg_${fixture.database}`])
        .catch(() => undefined);
    }
  });

  it('upgrading keeps the edited config and the state', async () => {
    fs.appendFileSync(CONFIG, '# edited by the operator\n');
    await dpkg('--install', DEB);
    assert.match(fs.readFileSync(CONFIG, 'utf8'), /# edited by the operator/);
    assert.deepEqual(
      fs.readdirSync('/etc/pgrelay').filter((f) => /\.dpkg-/.test(f)),
      [],
      'no .dpkg-new or .dpkg-dist beside the config',
    );
    assert.ok(fs.existsSync(STATE_FILE));
    assert.equal(mode(CONFIG), '640');
  });

  it('remove keeps config, state and user; purge deletes them', async () => {
    await dpkg('--remove', 'pgrelay');
    assert.ok(!fs.existsSync('/usr/lib/pgrelay'));
    assert.ok(!fs.existsSync('/usr/bin/pgrelay'));
    assert.ok(!fs.existsSync('/usr/lib/systemd/system/pgrelay.service'));
    assert.match(fs.readFileSync(CONFIG, 'utf8'), /# edited by the operator/);
    assert.ok(fs.existsSync(STATE_FILE));
    assert.equal((await run('getent', ['passwd', 'pgrelay'])).code, 0);
    assert.deepEqual(enabledUnits(), ENABLED, 'remove leaves the units enabled, for a reinstall');

    await dpkg('--purge', 'pgrelay');
    assert.deepEqual(enabledUnits(), [], 'purge disables the units');
    assert.ok(!fs.existsSync('/etc/pgrelay'));
    assert.ok(!fs.existsSync(STATE_DIR));
    assert.equal((await run('getent', ['passwd', 'pgrelay'])).code, 2, 'the pgrelay user is gone');
    assert.equal((await run('getent', ['group', 'pgrelay'])).code, 2, 'the pgrelay group is gone');
    assert.equal(await debInstalled(), false);
    fs.rmSync(MARKER);
  });

  // lintian spends most of a minute on one core reading the bundled Node: it ran from before() on,
  // beside the tests above.
  it('lintian reports no error or warning beyond packaging/debian/lintian-overrides', async () => {
    const result = await linted!.lintian;
    const findings = result.stdout.split('\n').filter((line) => /^[EW]: /.test(line));
    assert.deepEqual(findings, [], result.stdout + result.stderr);
    assert.equal(result.code, 0, result.stdout + result.stderr);
  });

  it('rpmlint reports no error or warning beyond packaging/rpm/rpmlint.toml', async () => {
    const result = await linted!.rpmlint;
    const findings = result.stdout.split('\n').filter((line) => / [EW]: /.test(line));
    assert.deepEqual(findings, [], result.stdout + result.stderr);
    assert.match(result.stdout, /0 errors, 0 warnings/);
    assert.equal(result.code, 0, result.stdout + result.stderr);
  });
});
