// @ts-check
import js from '@eslint/js';
import importX from 'eslint-plugin-import-x';
import { createTypeScriptImportResolver } from 'eslint-import-resolver-typescript';
import tseslint from 'typescript-eslint';

/**
 * Imports run one way: cli, http → runtime → sources, sinks, handlers → kafka, config, core, state
 * (README "Architecture"). Each zone names a layer and what it must not import; core imports nothing
 * of pgrelay's but itself. A wrong-way import fails `make lint` (and so `make test`).
 */
const LAYERS = {
  core: ['config', 'state', 'kafka', 'sources', 'sinks', 'handlers', 'runtime', 'http', 'cli'],
  config: ['state', 'kafka', 'sources', 'sinks', 'handlers', 'runtime', 'http', 'cli'],
  state: ['config', 'kafka', 'sources', 'sinks', 'handlers', 'runtime', 'http', 'cli'],
  kafka: ['config', 'state', 'sources', 'sinks', 'handlers', 'runtime', 'http', 'cli'],
  handlers: ['state', 'kafka', 'sources', 'sinks', 'runtime', 'http', 'cli'],
  sinks: ['state', 'sources', 'handlers', 'runtime', 'http', 'cli'],
  sources: ['sinks', 'handlers', 'runtime', 'http', 'cli'],
  runtime: ['http', 'cli'],
  http: ['cli'],
};
const layerZones = Object.entries(LAYERS).map(([layer, above]) => ({
  target: `./src/${layer}`,
  from: above.map((other) => `./src/${other}`),
  message: `${layer} sits below ${above.join(', ')}: move what both need down into core (or the lower layer)`,
}));
/** One source kind never reaches into another's directory: what both need lives in core. */
const sourceKinds = ['postgres', 'kafka'].map((kind) => ({
  target: `./src/sources/${kind}`,
  from: './src/sources',
  except: [`./${kind}`],
  message: 'a source kind does not import another: share through core',
}));

export default tseslint.config(
  { ignores: ['dist/', 'node_modules/', 'packaging/build/', 'plugins/examples/*.js'] },
  js.configs.recommended,
  ...tseslint.configs.recommendedTypeChecked,
  {
    languageOptions: {
      parserOptions: { projectService: true, tsconfigRootDir: import.meta.dirname },
    },
    rules: {
      '@typescript-eslint/no-floating-promises': [
        'error',
        {
          // node:test's describe/test return promises the runner itself awaits.
          allowForKnownSafeCalls: [
            { from: 'package', package: 'node:test', name: ['describe', 'suite', 'test', 'it'] },
          ],
        },
      ],
      '@typescript-eslint/no-misused-promises': 'error',
      '@typescript-eslint/no-unused-vars': ['error', { argsIgnorePattern: '^_', varsIgnorePattern: '^_' }],
      '@typescript-eslint/consistent-type-imports': 'error',
    },
  },
  {
    files: ['src/**/*.ts', 'plugins/**/*.ts'],
    plugins: { 'import-x': importX },
    settings: { 'import-x/resolver-next': [createTypeScriptImportResolver()] },
    rules: {
      'import-x/no-restricted-paths': [
        'error',
        {
          zones: [
            ...layerZones,
            ...sourceKinds,
            { target: './src', from: './plugins', message: 'src never imports plugins/: they build on src' },
            {
              target: './plugins',
              from: './src',
              except: ['./core'],
              message: 'a plugin uses only the handler interface in src/core',
            },
          ],
        },
      ],
    },
  },
  {
    files: ['**/*.js', '**/*.mjs'],
    ...tseslint.configs.disableTypeChecked,
  },
);
