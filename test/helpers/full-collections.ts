import { execFileSync } from 'node:child_process';

/**
 * Full (mark-compact) collections in a child node that runs `script`, ES module code whose imports
 * (pgrelay's modules by URL) are hoisted as usual; counted until 50 ms after it ends.
 */
export function fullCollectionsIn(script: string, nodeOptions: readonly string[] = []): number {
  const counted = `
    import { PerformanceObserver, constants } from 'node:perf_hooks';
    let full = 0;
    new PerformanceObserver((list) => {
      for (const entry of list.getEntries()) if (entry.detail.kind === constants.NODE_PERFORMANCE_GC_MAJOR) full++;
    }).observe({ entryTypes: ['gc'] });
    ${script}
    setTimeout(() => process.stdout.write(String(full)), 50);`;
  const out = execFileSync(process.execPath, [...nodeOptions, '--input-type=module', '-e', counted], {
    encoding: 'utf8',
  });
  return Number(out);
}
