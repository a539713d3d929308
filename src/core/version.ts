import packageJson from '../../package.json' with { type: 'json' };

/** From package.json; the bundle (scripts/bundle.mjs) carries it inside. */
export const VERSION: string = packageJson.version;
