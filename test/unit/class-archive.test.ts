import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { after, describe, it } from 'node:test';
import { classArchive } from '../harness/class-archive.js';
import { tempDir } from '../harness/processes.js';

const dirs: string[] = [];
after(() => {
  for (const dir of dirs) fs.rmSync(dir, { recursive: true, force: true });
});

/** A jar directory as toolchain.sh lays it out: the archives go beside it. */
function jars(names: Record<string, string>): string {
  const dir = tempDir('pgrelay-class-archive-');
  dirs.push(dir);
  const libs = path.join(dir, 'libs');
  fs.mkdirSync(libs);
  for (const [name, content] of Object.entries(names)) fs.writeFileSync(path.join(libs, name), content);
  return libs;
}

/** The JVM's check, for archives these tests write (not archives a JVM could map). */
const maps = (): boolean => true;

/** What -XX:ArchiveClassesAtExit=FILE names, as the JVM would write it. */
function written(options: string[]): string {
  const [option] = options;
  assert.match(option ?? '', /^-XX:ArchiveClassesAtExit=.+\.partial$/);
  const file = option!.slice(option!.indexOf('=') + 1);
  fs.writeFileSync(file, 'classes');
  return file;
}

describe('JVM class archives of the test harness', () => {
  it('the first JVM writes one as it exits; later ones map it', () => {
    const libs = jars({ 'kafka.jar': 'a', 'scala.jar': 'b' });
    const first = classArchive('kafka.Kafka', libs);
    const partial = written(first.options);
    first.ended(true);
    assert.equal(fs.existsSync(partial), false);
    const later = classArchive('kafka.Kafka', libs, maps);
    const [option] = later.options;
    assert.match(option ?? '', /^-XX:SharedArchiveFile=.+\/class-archives\/kafka\.Kafka-[0-9a-f]{16}\.jsa$/);
    assert.equal(fs.readFileSync(option!.slice(option!.indexOf('=') + 1), 'utf8'), 'classes');
  });

  it('a JVM that was killed leaves no archive to fail the next start', () => {
    const libs = jars({ 'kafka.jar': 'a' });
    const killed = classArchive('kafka.Kafka', libs);
    const partial = written(killed.options);
    killed.ended(false);
    assert.equal(fs.existsSync(partial), false);
    assert.deepEqual(fs.readdirSync(path.join(path.dirname(libs), 'class-archives')), []);
    assert.match(classArchive('kafka.Kafka', libs).options[0] ?? '', /^-XX:ArchiveClassesAtExit=/);
  });

  it('each main class and each set of jars has its own archive', () => {
    const libs = jars({ 'kafka.jar': 'a' });
    const broker = classArchive('kafka.Kafka', libs);
    written(broker.options);
    broker.ended(true);
    assert.match(
      classArchive('kafka.tools.StorageTool', libs).options[0] ?? '',
      /^-XX:ArchiveClassesAtExit=/,
    );
    // Another Kafka version: the jars differ in size.
    fs.writeFileSync(path.join(libs, 'kafka.jar'), 'a newer jar');
    assert.match(classArchive('kafka.Kafka', libs).options[0] ?? '', /^-XX:ArchiveClassesAtExit=/);
  });

  it('a partial archive left long ago by a killed JVM is removed; one being written is not', () => {
    const libs = jars({ 'kafka.jar': 'a' });
    const writing = written(classArchive('kafka.Kafka', libs).options);
    const abandoned = written(classArchive('kafka.Kafka', libs).options);
    const hourAgo = new Date(Date.now() - 3_600_000);
    fs.utimesSync(abandoned, hourAgo, hourAgo);
    classArchive('kafka.tools.StorageTool', libs);
    assert.equal(fs.existsSync(abandoned), false);
    assert.equal(fs.existsSync(writing), true);
  });

  it('an archive the JVM will not map is removed and written again', () => {
    const libs = jars({ 'kafka.jar': 'a' });
    const first = classArchive('kafka.Kafka', libs);
    written(first.options);
    first.ended(true);
    const [archive] = fs.readdirSync(path.join(path.dirname(libs), 'class-archives'));
    // The JVM on PATH checks it: these bytes are no archive.
    const again = classArchive('kafka.Kafka', libs);
    assert.match(again.options[0] ?? '', /^-XX:ArchiveClassesAtExit=/);
    assert.deepEqual(fs.readdirSync(path.join(path.dirname(libs), 'class-archives')), []);
    assert.ok(archive?.endsWith('.jsa'));
  });
});
