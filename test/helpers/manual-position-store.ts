import type { PositionStore, StreamPosition } from '../../src/sources/postgres/positions.js';

/** A position store whose writes the test finishes one by one, as the source database's would. */
export class ManualStore implements PositionStore {
  readonly writes: { position: StreamPosition; finish: (error?: Error) => void }[] = [];

  write(position: StreamPosition): Promise<void> {
    return new Promise((resolve, reject) => {
      this.writes.push({ position, finish: (error) => (error === undefined ? resolve() : reject(error)) });
    });
  }
}
