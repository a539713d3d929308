import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { describe, it } from 'node:test';
import { pino } from 'pino';
import type { ChangeEvent, RawEvent, RelayEvent } from '../../src/core/event.js';
import { parseConfig } from '../../src/runtime/config.js';
import { enrichSchema } from '../../src/handlers/enrich/config.js';
import { createEnrich } from '../../src/handlers/enrich/handler.js';
import { sampleEvent } from '../helpers/events.js';

const context = { sink: 'main', log: pino({ level: 'silent' }) };

async function enrich(
  config: Record<string, unknown>,
  event: RelayEvent,
): Promise<ChangeEvent & Record<string, unknown>> {
  const handler = createEnrich('tag', enrichSchema.parse({ type: 'enrich', ...config }));
  const [out] = await handler.process([event], context);
  return out as ChangeEvent & Record<string, unknown>;
}

describe('enrich handler', () => {
  it('adds static fields and fields copied from the event', async () => {
    const out = await enrich(
      { set: { env: 'prod', region: 'eu' }, from_event: { origin: 'host', via: 'source' } },
      sampleEvent(),
    );
    assert.deepEqual([out.env, out.region, out.origin, out.via], ['prod', 'eu', 'db1.example.com', 'db1']);
    assert.deepEqual(out.columns, sampleEvent().columns);
  });

  it('copies, renames and drops columns in columns, old and key', async () => {
    const event = sampleEvent({
      action: 'update',
      key: { id: '1' },
      columns: { id: '1', mail: 'a@x', secret: 's' },
      old: { id: '1', mail: 'b@x', secret: 't' },
      unchanged_toast: ['mail', 'secret'],
    });
    const out = await enrich(
      { copy: { mail: 'mail_raw' }, rename: { mail: 'email', id: 'user_id' }, drop: ['secret'] },
      event,
    );
    assert.deepEqual(out.columns, { user_id: '1', email: 'a@x', mail_raw: 'a@x' });
    assert.deepEqual(out.old, { user_id: '1', email: 'b@x', mail_raw: 'b@x' });
    assert.deepEqual(out.key, { user_id: '1' });
    assert.deepEqual(out.unchanged_toast, ['email']);
    assert.deepEqual(event.columns, { id: '1', mail: 'a@x', secret: 's' }, 'the input event is not changed');
  });

  it('masks columns with a salted hash (stable, so still joinable) or redacts them', async () => {
    const event = sampleEvent({
      key: { email: 'ann@example.com' },
      columns: { email: 'ann@example.com', n: null },
    });
    const hashed = await enrich({ mask: ['email', 'n'], mask_salt: 'pepper' }, event);
    const expected = createHash('sha256').update('pepper').update('"ann@example.com"').digest('hex');
    assert.deepEqual(hashed.columns, { email: expected, n: null });
    assert.deepEqual(hashed.key, { email: expected });
    const unsalted = await enrich({ mask: ['email'] }, event);
    assert.notEqual(unsalted.columns!.email, expected);
    const redacted = await enrich({ mask: ['email'], mask_with: 'redact' }, event);
    assert.equal(redacted.columns!.email, '***');
  });

  it('changes only the listed tables, and leaves raw messages alone', async () => {
    const other = sampleEvent({ table: 'orders' });
    assert.equal(await enrich({ tables: ['public.users'], set: { env: 'prod' } }, other), other);
    const raw: RawEvent = {
      action: 'raw',
      source: 'edge',
      topic: 't',
      partition: 0,
      offset: '0',
      key: null,
      payload: Buffer.from('x'),
      headers: {},
      timestamp: '0',
    };
    assert.equal(await enrich({ set: { env: 'prod' } }, raw), raw);
  });

  it('refuses to overwrite fields of the event itself', () => {
    const toml = `
[sources.a]
type = "kafka"
brokers = ["k:9092"]
topics = ["t"]
group_id = "g"
[handlers.tag]
type = "enrich"
set = { env = "prod", action = "x" }
from_event = { table = "host" }
[sinks.s]
type = "stub"
sources = ["a"]
handlers = ["tag"]
`;
    assert.throws(
      () => parseConfig(toml, 'pgrelay.toml', {}),
      (error: Error) =>
        /handlers\.tag\.set\.action: "action" is a field of the event itself/.test(error.message) &&
        /handlers\.tag\.from_event\.table:/.test(error.message),
    );
  });
});
