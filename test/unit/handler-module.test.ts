import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { after, describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';
import { pino } from 'pino';
import { ConfigError } from '../../src/core/errors.js';
import { moduleSchema } from '../../src/handlers/module/config.js';
import { loadModuleHandler } from '../../src/handlers/module/handler.js';
import { sampleEvent } from '../helpers/events.js';

/** The example plugin as shipped: compiled next to this test under dist/. */
const EXAMPLE = fileURLToPath(new URL('../../plugins/examples/tenant-topics.js', import.meta.url));
const log = pino({ level: 'silent' });
const context = { sink: 'main', log };
const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'pgrelay-plugins-'));
after(() => fs.rmSync(dir, { recursive: true, force: true }));

function load(file: string, options: Record<string, unknown> = {}) {
  return loadModuleHandler('tenants', moduleSchema.parse({ type: 'module', path: file, options }), log);
}

function plugin(name: string, source: string): string {
  const file = path.join(dir, name);
  fs.writeFileSync(file, source);
  return file;
}

describe('user handler modules', () => {
  it('loads the example plugin, which routes changes to a topic per tenant', async () => {
    const handler = await load(EXAMPLE, { column: 'tenant', prefix: 'cdc' });
    assert.equal(handler.name, 'tenants');
    const withTenant = sampleEvent({ columns: { id: '1', tenant: 'acme' } });
    const without = sampleEvent({ columns: { id: '2' } });
    const [record, passed] = await handler.process([withTenant, without], context);
    assert.deepEqual(record, {
      topic: 'cdc.acme',
      key: '{"id":"1"}',
      value: JSON.stringify(withTenant),
      origin: withTenant,
    });
    assert.equal(passed, without, 'changes without a tenant go on as events');
  });

  it('lets the example throw for an event it cannot route', async () => {
    const handler = await load(EXAMPLE, { column: 'tenant' });
    await assert.rejects(
      async () => handler.process([sampleEvent({ columns: { tenant: 'a/b' } })], context),
      /tenant "a\/b" does not make a valid topic name/,
    );
  });

  it('reports modules that cannot be used as config errors naming the handler', async () => {
    const missing = path.join(dir, 'missing.js');
    await assert.rejects(
      load(missing),
      (e: Error) =>
        e instanceof ConfigError && e.message.startsWith(`handlers.tenants.path: cannot load ${missing}`),
    );
    await assert.rejects(
      load(plugin('none.mjs', 'export const x = 1;\n')),
      (e: Error) => e instanceof ConfigError && /does not export createHandler/.test(e.message),
    );
    await assert.rejects(
      load(plugin('empty.mjs', 'export function createHandler() { return {}; }\n')),
      (e: Error) => e instanceof ConfigError && /returned no object with process/.test(e.message),
    );
    await assert.rejects(
      load(EXAMPLE, { column: 7 }),
      (e: Error) =>
        e instanceof ConfigError &&
        /^handlers\.tenants\.options: createHandler\(\) in .* failed: options.column and options.prefix must be strings/.test(
          e.message,
        ),
    );
  });

  it('accepts a default export and binds process and close to the module’s object', async () => {
    const file = plugin(
      'default.mjs',
      `export default { createHandler: () => ({ closed: false, process(events) { return events.map((e) => ({ key: null, value: this.tag + e.id })); }, close() { this.closed = true; }, tag: 'v:' }) };\n`,
    );
    const handler = await load(file);
    assert.deepEqual(await handler.process([sampleEvent()], context), [
      { key: null, value: 'v:0/1508468:0' },
    ]);
    await handler.close?.();
  });
});
