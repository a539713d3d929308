/**
 * Loaded into each test file's process (make test's --import): its writes to stdout block until they
 * are done. A test file reports to the runner over its stdout, a pipe, and with --test-force-exit the
 * process exits once its tests are done: on Linux the report still queued on the pipe was lost, and
 * the runner counted 439 to 457 of 457 unit tests, fail 0, the missing ones the last of a file
 * (nodejs/node#64833). With this, 457 in every run.
 */
const stdout = process.stdout as unknown as { _handle?: { setBlocking?(blocking: boolean): unknown } };
stdout._handle?.setBlocking?.(true);

export {};
