/**
 * Application class-data sharing for the harness's JVMs. The first run of a main class writes the
 * classes it loaded to an archive as it exits; later runs map them from it instead of reading,
 * parsing and verifying them from the jars again. A test run starts about a dozen brokers and
 * formats as many log directories, each a JVM loading thousands of Kafka's and Scala's classes.
 *
 * An archive holds classes of one JVM build and one class path: its name carries a digest of both,
 * so an upgrade of either writes a new one. A JVM given an archive it cannot map runs without it,
 * and without the JDK's own archive, saying nothing; so each process checks an archive before its
 * first use (0.1 s) and writes it again when the JVM refuses it.
 */
import { execFileSync } from 'node:child_process';
import { createHash, randomUUID } from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';

export interface ClassArchive {
  /** JVM options: map the archive, or write one as the JVM exits. */
  readonly options: string[];
  /** After the JVM ended: keeps the archive it wrote, if it exited of its own accord. */
  ended(cleanly: boolean): void;
}

/** Whether the JVM maps `archive` with the jars in `libs` on its class path. */
export type ArchiveCheck = (archive: string, libs: string) => boolean;

/** The archives this process found the JVM maps. */
const mapped = new Set<string>();

const jvmMaps: ArchiveCheck = (archive, libs) => {
  try {
    // -Xshare:on makes a refused archive an error instead of a silent start without it.
    execFileSync('java', ['-Xshare:on', `-XX:SharedArchiveFile=${archive}`, '-cp', `${libs}/*`, '-version'], {
      stdio: 'ignore',
    });
    return true;
  } catch {
    return false;
  }
};

/** The archive for `mainClass` run from the jars in `libs`, kept in a directory beside them. */
export function classArchive(mainClass: string, libs: string, check: ArchiveCheck = jvmMaps): ClassArchive {
  const dir = path.join(path.dirname(libs), 'class-archives');
  const file = path.join(dir, `${mainClass}-${digest(libs)}.jsa`);
  fs.mkdirSync(dir, { recursive: true });
  removeAbandoned(dir);
  if (fs.existsSync(file)) {
    if (mapped.has(file) || check(file, libs)) {
      mapped.add(file);
      return { options: [`-XX:SharedArchiveFile=${file}`], ended: () => {} };
    }
    fs.rmSync(file, { force: true });
  }
  // JVMs of one run write side by side, each its own file; the last to end replaces the others'
  // (a rename is atomic, and a JVM already mapping the file keeps what it mapped).
  const partial = `${file}.${randomUUID()}.partial`;
  return {
    options: [`-XX:ArchiveClassesAtExit=${partial}`],
    ended: (cleanly) => {
      // A JVM killed while writing leaves a file that fails the next JVM's checks on every start.
      if (cleanly && fs.existsSync(partial)) fs.renameSync(partial, file);
      else fs.rmSync(partial, { force: true });
    },
  };
}

/**
 * A JVM writes its archive in seconds as it exits; a partial file this old was left by one killed
 * while writing, or by a harness that ended before its broker did.
 */
const ABANDONED_MS = 10 * 60_000;

function removeAbandoned(dir: string): void {
  for (const name of fs.readdirSync(dir)) {
    if (!name.endsWith('.partial')) continue;
    const file = path.join(dir, name);
    try {
      if (Date.now() - fs.statSync(file).mtimeMs > ABANDONED_MS) fs.rmSync(file, { force: true });
    } catch {
      // another run removed it first
    }
  }
}

/** The JVM on PATH (its binary's path, size and time) and the jars' names and sizes. */
function digest(libs: string): string {
  const hash = createHash('sha256');
  const java = fs.realpathSync(onPath('java'));
  const { size, mtimeMs } = fs.statSync(java);
  hash.update(`${java} ${size} ${mtimeMs}\n`);
  for (const jar of fs.readdirSync(libs).sort())
    hash.update(`${jar} ${fs.statSync(path.join(libs, jar)).size}\n`);
  return hash.digest('hex').slice(0, 16);
}

function onPath(command: string): string {
  for (const dir of (process.env.PATH ?? '').split(path.delimiter)) {
    const candidate = path.join(dir, command);
    if (dir !== '' && fs.existsSync(candidate)) return candidate;
  }
  throw new Error(`${command} not found on PATH`);
}
