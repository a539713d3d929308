import assert from 'node:assert/strict';
import { type ChildProcess, spawn } from 'node:child_process';
import net from 'node:net';
import path from 'node:path';
import { describe, test } from 'node:test';
import { ROOT } from '../harness/pgrelay.js';
import { waitFor, within } from '../harness/processes.js';

/** `make demo`: rows become Kafka messages on screen, and Ctrl-C leaves nothing running. */
describe('make demo', () => {
  test('prints the Kafka messages the rows became; SIGINT stops every process it started', async () => {
    const demo: ChildProcess = spawn(process.execPath, [path.join(ROOT, 'dist/test/harness/demo.js')], {
      env: process.env,
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let output = '';
    demo.stdout!.on('data', (chunk: Buffer) => (output += chunk.toString()));
    demo.stderr!.on('data', (chunk: Buffer) => (output += chunk.toString()));
    const exited = new Promise<number | null>((resolve) => demo.once('exit', (code) => resolve(code)));
    try {
      // kcat reads the two topics side by side: Ada may be printed after the order's update.
      await waitFor(
        () => `Ada and an order update to arrive in Kafka; the demo printed:\n${output.slice(-3000)}`,
        () =>
          Promise.resolve(
            (/demo\.orders.*\n.*"action":"update"/.test(output) &&
              /demo\.customers.*key=\{"id":"1"\}\n.*"name":"Ada"/.test(output)) ||
              undefined,
          ),
        120_000,
      );
      demo.kill('SIGINT');
      // The demo stops pgrelay, kcat, Kafka and PostgreSQL, each allowed 30 s before SIGKILL.
      assert.equal(
        await within('the demo to stop everything and exit after SIGINT', exited, 180_000),
        0,
        output.slice(-2000),
      );
    } finally {
      // SIGKILL would leave the demo's PostgreSQL, Kafka, kcat and pgrelay running, holding its
      // output open and the machine busy for the tests after this one: SIGINT stops them.
      if (demo.exitCode === null && demo.signalCode === null) {
        demo.kill('SIGINT');
        await within('the demo to stop after a failure', exited, 180_000).catch(() => demo.kill('SIGKILL'));
      }
    }
    assert.match(output, /stopped; nothing left running/);
    const ports = [...output.matchAll(/127\.0\.0\.1:(\d+)/g)].map((m) => Number(m[1]));
    assert.ok(ports.length >= 3, 'the demo printed its PostgreSQL, Kafka and HTTP addresses');
    for (const port of new Set(ports))
      assert.equal(await listening(port), false, `nothing listens on ${port} any more`);
  });
});

function listening(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = net.connect(port, '127.0.0.1');
    socket.once('connect', () => {
      socket.destroy();
      resolve(true);
    });
    socket.once('error', () => resolve(false));
  });
}
