import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { pgTime } from '../../src/sources/postgres/protocol/pgoutput.js';

describe('pgTime: a commit timestamp (µs since 2000-01-01) as ISO text and epoch ms', () => {
  it('PostgreSQL epoch, and a microsecond either side of it', () => {
    assert.deepEqual(pgTime(0n), { iso: '2000-01-01T00:00:00.000000Z', ms: 946_684_800_000 });
    assert.deepEqual(pgTime(1n), { iso: '2000-01-01T00:00:00.000001Z', ms: 946_684_800_000 });
    assert.deepEqual(pgTime(-1n), { iso: '1999-12-31T23:59:59.999999Z', ms: 946_684_799_999 });
  });

  it('before the Unix epoch: the fraction counts up from the earlier second, ms round down', () => {
    assert.deepEqual(pgTime(-946_684_800_000_001n), { iso: '1969-12-31T23:59:59.999999Z', ms: -1 });
  });

  it('consecutive seconds, and back to an earlier one, each with its own text', () => {
    assert.deepEqual(pgTime(817_000_000_123_456n), {
      iso: '2025-11-21T00:26:40.123456Z',
      ms: 1_763_684_800_123,
    });
    assert.deepEqual(pgTime(817_000_001_000_000n), {
      iso: '2025-11-21T00:26:41.000000Z',
      ms: 1_763_684_801_000,
    });
    assert.deepEqual(pgTime(817_000_000_999_999n), {
      iso: '2025-11-21T00:26:40.999999Z',
      ms: 1_763_684_800_999,
    });
    assert.deepEqual(pgTime(1_500_000n), { iso: '2000-01-01T00:00:01.500000Z', ms: 946_684_801_500 });
  });

  it('beyond 2^53 µs either way (after 2285, before 1715), where a double loses microseconds', () => {
    assert.deepEqual(pgTime(10_000_000_000_000_123n), {
      iso: '2316-11-20T17:46:40.000123Z',
      ms: 10_946_684_800_000,
    });
    assert.deepEqual(pgTime(-10_000_000_000_000_123n), {
      iso: '1683-02-10T06:13:19.999877Z',
      ms: -9_053_315_200_001,
    });
  });

  it('the largest exact doubles: the last microsecond of a second stays in it', () => {
    assert.deepEqual(pgTime(9_007_199_253_999_999n), {
      iso: '2285-06-04T23:47:33.999999Z',
      ms: 9_953_884_053_999,
    });
    assert.deepEqual(pgTime(BigInt(Number.MAX_SAFE_INTEGER)), {
      iso: '2285-06-04T23:47:34.740991Z',
      ms: 9_953_884_054_740,
    });
  });
});
