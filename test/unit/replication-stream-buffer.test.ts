import assert from 'node:assert/strict';
import { PassThrough } from 'node:stream';
import { test } from 'node:test';
import pg from 'pg';
import { ReplicationStream, type StreamHandlers } from '../../src/sources/postgres/protocol/replication.js';

/** A CopyData message carrying XLogData ('w', 24 header bytes) whose payload is `text`. */
function xlogData(text: string): Buffer {
  const payload = Buffer.concat([Buffer.from('w'), Buffer.alloc(24), Buffer.from(text)]);
  const header = Buffer.alloc(5);
  header.write('d', 0, 'latin1');
  header.writeUInt32BE(payload.length + 4, 1);
  return Buffer.concat([header, payload]);
}

/** A stream wired to node-postgres's own Connection parser, as ReplicationStream.run() wires it. */
function wiredStream(socket: PassThrough, handlers: StreamHandlers): void {
  const connection = new pg.Connection({ stream: () => socket });
  (connection as unknown as { attachListeners(stream: PassThrough): void }).attachListeners(socket);
  const stream = new ReplicationStream({});
  const internals = stream as unknown as {
    connection: unknown;
    receive(chunk: Buffer, handlers: StreamHandlers): void;
  };
  internals.connection = connection;
  connection.on('copyData', ({ chunk }: { chunk: Buffer }) => internals.receive(chunk, handlers));
}

test('messages of one read survive the next read, which node-postgres parses into the same buffer', async () => {
  const texts = Array.from(
    { length: 20 },
    (_, i) => `change ${String(i).padStart(4, '0')} ${'x'.repeat(40)}`,
  );
  const bytes = Buffer.concat(texts.map(xlogData));
  // The first read ends inside a message; the second is short enough that the parser moves that
  // partial message to the start of its buffer instead of allocating a new one.
  const cut = bytes.length - Math.floor(xlogData(texts[0]!).length * 1.5);
  const received: string[] = [];
  const socket = new PassThrough();
  socket.pause();
  wiredStream(socket, {
    onMessage: (data, offset) => void received.push(data.toString('utf8', offset)),
    onKeepalive: () => undefined,
  });
  // Both reads wait in the paused socket: resuming emits them one after the other, synchronously,
  // as a socket does after backpressure.
  socket.write(bytes.subarray(0, cut));
  socket.write(bytes.subarray(cut));
  socket.resume();
  const deadline = Date.now() + 5_000;
  while (received.length < texts.length && Date.now() < deadline) await new Promise((r) => setTimeout(r, 10));
  assert.deepEqual(received, texts);
});
