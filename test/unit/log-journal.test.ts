import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { Writable } from 'node:stream';
import { after, describe, test } from 'node:test';
import { pathToFileURL } from 'node:url';
import { createLogger, isJournalStream } from '../../src/core/log.js';
import { ROOT } from '../harness/pgrelay.js';
import { scratchDir } from '../helpers/cli.js';

function capture(): { stream: Writable; lines: string[] } {
  const lines: string[] = [];
  const stream = new Writable({
    write(chunk: Buffer, _encoding, done) {
      lines.push(...chunk.toString('utf8').split('\n').filter(Boolean));
      done();
    },
  });
  return { stream, lines };
}

function logEveryLevel(journal: boolean): string[] {
  const { stream, lines } = capture();
  const log = createLogger('debug', stream, journal);
  log.debug('d');
  log.info('i');
  log.child({ component: 'db1' }).warn('w');
  log.error('e');
  log.fatal('f');
  return lines;
}

describe('log lines and journald', () => {
  const scratch = scratchDir();
  after(scratch.remove);

  test('to the journal, every line starts with its syslog priority, then the JSON', () => {
    const lines = logEveryLevel(true);
    assert.deepEqual(
      lines.map((line) => /^<\d>/.exec(line)?.[0]),
      ['<7>', '<6>', '<4>', '<3>', '<2>'],
    );
    const warn = JSON.parse(lines[2]!.slice(3)) as { level: string; msg: string; component: string };
    assert.deepEqual([warn.level, warn.msg, warn.component], ['warn', 'w', 'db1']);
  });

  test('elsewhere, plain JSON lines', () => {
    for (const line of logEveryLevel(false)) assert.ok(line.startsWith('{'), line);
  });

  test('stdout is the journal only when JOURNAL_STREAM names its device and inode', () => {
    const file = scratch.write('out.log', '');
    const fd = fs.openSync(file, 'a');
    try {
      const { dev, ino } = fs.fstatSync(fd, { bigint: true });
      assert.equal(isJournalStream({ JOURNAL_STREAM: `${dev}:${ino}` }, fd), true);
      assert.equal(isJournalStream({ JOURNAL_STREAM: `${dev}:${ino + 1n}` }, fd), false, 'inherited');
      assert.equal(isJournalStream({}, fd), false);
    } finally {
      fs.closeSync(fd);
    }
  });

  test("pgrelay's logger on a stdout systemd connected to the journal prefixes; redirected, it does not", () => {
    const module = pathToFileURL(path.join(ROOT, 'dist/src/core/log.js')).href;
    const script = `import(${JSON.stringify(module)}).then(({ createLogger }) => createLogger('info').warn('w'))`;
    const run = (journalStream: (file: string) => string | undefined) => {
      const file = scratch.write(`stdout-${Math.random()}.log`, '');
      const fd = fs.openSync(file, 'a');
      const env = { ...process.env, JOURNAL_STREAM: journalStream(file) };
      if (env.JOURNAL_STREAM === undefined) delete env.JOURNAL_STREAM;
      const result = spawnSync(process.execPath, ['-e', script], { stdio: ['ignore', fd, 'pipe'], env });
      fs.closeSync(fd);
      assert.equal(result.status, 0, result.stderr.toString());
      return fs.readFileSync(file, 'utf8');
    };
    const inode = (file: string) => {
      const { dev, ino } = fs.statSync(file, { bigint: true });
      return `${dev}:${ino}`;
    };
    assert.match(run(inode), /^<4>\{"level":"warn",/);
    assert.match(
      run(() => undefined),
      /^\{"level":"warn",/,
    );
    assert.match(
      run(() => '1:2'),
      /^\{"level":"warn",/,
    );
  });
});
