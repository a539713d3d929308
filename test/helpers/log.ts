import { Writable } from 'node:stream';
import { type Logger, createLogger } from '../../src/core/log.js';

export interface LogLine {
  level: string;
  msg: string;
  component?: string;
  [field: string]: unknown;
}

/** A pino logger (the production one) writing into memory, with its JSON lines parsed. */
export function capturedLogger(level = 'info'): { log: Logger; lines: LogLine[] } {
  const lines: LogLine[] = [];
  const stream = new Writable({
    write(chunk: Buffer, _encoding, done) {
      for (const line of chunk.toString('utf8').split('\n')) {
        if (line !== '') lines.push(JSON.parse(line) as LogLine);
      }
      done();
    },
  });
  return { log: createLogger(level, stream), lines };
}
