import { readFileSync } from 'node:fs';

/** From package.json, which sits at the application root in a checkout and in the packages. */
export const VERSION: string = (
  JSON.parse(readFileSync(new URL('../../../package.json', import.meta.url), 'utf8')) as { version: string }
).version;
