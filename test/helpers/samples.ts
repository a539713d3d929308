import fs from 'node:fs';
import path from 'node:path';

/** The state.path the samples ship with: the package creates /var/lib/pgrelay, a checkout has none. */
export const PACKAGED_STATE = /^path = "\/var\/lib\/pgrelay\/state\.db"$/m;

/**
 * A copy of the sample config `sample` in `dir`, as it ships but for its state.path, which points
 * into `dir`: config loading refuses a state directory that does not exist.
 */
export function sampleCopy(sample: string, dir: string): string {
  const text = fs.readFileSync(sample, 'utf8');
  if (!PACKAGED_STATE.test(text)) throw new Error(`${sample} no longer sets state.path to /var/lib/pgrelay`);
  const copy = path.join(dir, path.basename(sample));
  fs.writeFileSync(copy, text.replace(PACKAGED_STATE, 'path = "state.db"'));
  return copy;
}
