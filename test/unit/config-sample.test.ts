import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { after, describe, test } from 'node:test';
import { parse } from 'smol-toml';
import { loadConfig } from '../../src/runtime/config.js';
import { configSchema } from '../../src/runtime/config-schema.js';
import { childSchema, resolveNode } from '../../src/config/schema-walk.js';
import { interpolate } from '../../src/config/interpolate.js';
import { ROOT } from '../harness/pgrelay.js';
import { scratchDir } from '../helpers/cli.js';
import { sampleCopy } from '../helpers/samples.js';

const SAMPLE = path.join(ROOT, 'conf/pgrelay.toml');

/**
 * The sample with its commented-out keys and tables switched on: `# key = value` and `# [table]`
 * lines lose their "# ", prose comments stay comments.
 */
function uncommented(text: string): unknown {
  return parse(text.replace(/^#\s*((?:\[[\w."-]+\]|[\w-]+\s*=\s).*)$/gm, '$1'));
}

type Def = { type: string; shape?: Record<string, unknown>; options?: unknown[]; valueType?: unknown };

/** The `type` each member of a discriminated union stands for. */
function memberTypes(union: Def): string[] {
  return (union.options ?? []).map((option) => {
    const shape = resolveNode(option, undefined).def?.shape as Record<string, unknown>;
    return (resolveNode(shape.type, undefined).def as unknown as { values: string[] }).values[0]!;
  });
}

/**
 * Every key of the schema the sample does not show, walking schema and sample together. A table of
 * named components (sources, sinks, handlers) must show each member type of its union at least once,
 * and each of that type's keys in at least one of its tables.
 */
function undocumented(schema: unknown, sample: unknown, at: string): string[] {
  const { def } = resolveNode(schema, sample) as { def: Def | undefined };
  if (def?.type === 'object') {
    return Object.keys(def.shape!).flatMap((key) => {
      const value = (sample as Record<string, unknown> | undefined)?.[key];
      const where = at === '' ? key : `${at}.${key}`;
      return value === undefined ? [where] : undocumented(childSchema(def, key), value, where);
    });
  }
  if (def?.type === 'record') {
    const union = resolveNode(def.valueType, undefined).def as Def | undefined;
    if (union?.type !== 'union') return [];
    const entries = Object.values(sample as Record<string, { type?: string }>);
    return memberTypes(union).flatMap((type) => {
      const where = `${at}.<${type}>`;
      const ofType = entries.filter((entry) => entry.type === type);
      if (ofType.length === 0) return [where];
      // Missing only when no table of this type shows it.
      const missing = ofType.map((entry) => new Set(undocumented(def.valueType, entry, where)));
      return [...missing[0]!].filter((key) => missing.every((set) => set.has(key)));
    });
  }
  return [];
}

describe('conf/pgrelay.toml, the commented sample', () => {
  const text = fs.readFileSync(SAMPLE, 'utf8');

  const scratch = scratchDir();
  after(scratch.remove);

  test('is a valid config as it ships (its state directory made)', () => {
    const config = loadConfig(sampleCopy(SAMPLE, scratch.dir), {});
    assert.deepEqual(Object.keys(config.sources), ['db1']);
  });

  test('documents every key of the schema, with its commented-out examples valid too', () => {
    const sample = uncommented(text) as {
      http: Record<string, unknown>;
      sources: Record<string, Record<string, unknown>>;
    };
    assert.deepEqual(undocumented(configSchema, sample, ''), []);
    // token and token_file exclude each other: the sample shows both, a config sets one.
    assert.notEqual(sample.http.token_file, undefined);
    delete sample.http.token_file;
    // transaction_timeout needs exactly_once, which the sample shows at its default, false.
    const relay = Object.values(sample.sources).find((s) => s.transaction_timeout !== undefined);
    assert.equal(relay?.exactly_once, false);
    relay.exactly_once = true;
    // commit_interval is for a source without exactly_once: the sample shows both, a config sets one.
    assert.notEqual(relay.commit_interval, undefined);
    delete relay.commit_interval;
    // Every variable set (long enough for a token), so the examples' ${VAR} references resolve
    // whatever they are called.
    const env = new Proxy({}, { get: () => 'set-by-the-test-0123456789' });
    const result = configSchema.safeParse(interpolate(sample, env).value);
    assert.deepEqual(result.error?.issues ?? [], []);
  });

  test('the walk notices a key missing from the sample', () => {
    const sample = uncommented(text) as { sinks: Record<string, Record<string, unknown>> };
    for (const sink of Object.values(sample.sinks)) delete sink.linger;
    assert.deepEqual(undocumented(configSchema, sample, ''), ['sinks.<kafka>.linger', 'sinks.<stub>.linger']);
  });
});
