import assert from 'node:assert/strict';
import { after, describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';
import { loadConfig } from '../../src/runtime/config.js';
import { scratchDir } from '../helpers/cli.js';
import { sampleCopy } from '../helpers/samples.js';

const SAMPLE = fileURLToPath(new URL('../../../conf/kafka-relay.toml', import.meta.url));

describe('conf/kafka-relay.toml', () => {
  const scratch = scratchDir();
  after(scratch.remove);

  it('is valid without any environment variable, and wires what its comments say', () => {
    const config = loadConfig(sampleCopy(SAMPLE, scratch.dir), {});
    const edge = config.sources.edge;
    assert.equal(edge?.type, 'kafka');
    assert.deepEqual(edge.type === 'kafka' && [edge.format, edge.group_id, edge.dead_letter_topic], [
      'auto',
      'pgrelay-central',
      'pgrelay.dlq',
    ]);
    assert.equal(config.sources.audit?.type === 'kafka' && config.sources.audit.format, 'raw');
    assert.deepEqual(config.sinks.central?.handlers, ['tag', 'passthrough']);
    assert.deepEqual(config.sinks.mirror?.sources, ['audit']);
  });
});
