import { PerformanceObserver, constants } from 'node:perf_hooks';
import v8 from 'node:v8';
import vm from 'node:vm';

/**
 * V8 settings pgrelay makes once its code has loaded rather than on node's command line. V8 uses
 * compiled code it finds cached only if it was made under the same flags (it keeps a hash of them),
 * and `--expose-gc` or `--heap-growing-percent` on the command line made it refuse the compiled code
 * of Node's built-in modules that the node binary carries: every start compiled them again
 * (`pgrelay --version`: 0.28 to 0.30 s of CPU against 0.24 to 0.26, measured; docs/performance.md,
 * Memory). A flag set here works from then on, as it would from the command line.
 */

/** One of node's options as V8 reads it: its name, with `_` spelled `-`, and what follows `=`. */
function v8Option(option: string): { name: string; value: string | undefined } {
  const equals = option.indexOf('=');
  if (equals < 0) return { name: option.replaceAll('_', '-'), value: undefined };
  return { name: option.slice(0, equals).replaceAll('_', '-'), value: option.slice(equals + 1) };
}

/** Whether node's own options (the launcher's, PGRELAY_NODE_FLAGS) name V8 flag `flag`, either way. */
export function namesV8Flag(execArgv: readonly string[], flag: string): boolean {
  return execArgv.some((option) => {
    const { name } = v8Option(option);
    return name === `--${flag}` || name === `--no-${flag}`;
  });
}

/** The value node's own options give V8 flag `flag` (the last one wins, as in V8), if any. */
export function v8FlagValue(execArgv: readonly string[], flag: string): string | undefined {
  let found: string | undefined;
  for (const option of execArgv) {
    const { name, value } = v8Option(option);
    if (name === `--${flag}` && value !== undefined) found = value;
  }
  return found;
}

/**
 * V8 lets the old generation grow by a factor it picks from the allocation rate, and under
 * pgrelay's (a 1M-row transaction) it let the heap grow to several times the live data: 361 MB
 * RSS with about 60 MB live. Collecting once it doubles held that peak near 200 MB for about
 * 0.6 µs more CPU per row. An operator who set the flag in PGRELAY_NODE_FLAGS keeps theirs.
 */
const HEAP_GROWING_PERCENT = 100;

export function growHeapByItsLiveSize(): void {
  if (!namesV8Flag(process.execArgv, 'heap-growing-percent'))
    v8.setFlagsFromString(`--heap-growing-percent=${HEAP_GROWING_PERCENT}`);
}

let exposed: { gc: typeof globalThis.gc | undefined } | undefined;

/**
 * A full collection through V8's `gc()`: node's global one when it runs with `--expose-gc`, else the
 * one V8 puts in a context made once the flag is on (it adds `gc` to new contexts only; the context
 * costs under 1 MB, and is made once per process). Undefined when V8 would not expose it.
 * `last-resort` may shrink every space (idle-memory); `regular` is the one V8 would run itself.
 */
export function fullCollection(flavor: 'regular' | 'last-resort'): (() => void) | undefined {
  exposed ??= { gc: exposeCollection() };
  const gc = exposed.gc;
  if (gc === undefined) return undefined;
  return () => void gc({ type: 'major', execution: 'sync', flavor });
}

function exposeCollection(): typeof globalThis.gc | undefined {
  let gc = globalThis.gc;
  if (gc === undefined) {
    v8.setFlagsFromString('--expose-gc');
    gc = vm.runInNewContext('typeof gc === "function" ? gc : undefined') as typeof globalThis.gc;
  }
  return gc;
}

/** Calls `young` after each young collection V8 reports and `full` after each full one, until disconnected. */
export function observeCollections(on: { young?: () => void; full?: () => void }): PerformanceObserver {
  const observer = new PerformanceObserver((list) => {
    for (const entry of list.getEntries()) {
      const kind = (entry as { detail?: { kind?: number } }).detail?.kind;
      if (kind === constants.NODE_PERFORMANCE_GC_MINOR) on.young?.();
      else if (kind === constants.NODE_PERFORMANCE_GC_MAJOR) on.full?.();
    }
  });
  observer.observe({ entryTypes: ['gc'] });
  return observer;
}
