import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { Reader } from '@platformatic/kafka';
import { UnsupportedFetchError, fetchVersion, parseFetchResponse } from '../../src/kafka/fetch.js';
import { fetchedBytes, fetchedRecords } from '../fixtures/fetched-records.js';

const fixture = fetchedRecords();

describe('Fetch responses', () => {
  it('parses a captured Fetch v17 response, keeping the records section as bytes', () => {
    const body = Buffer.from(fixture.response.body, 'base64');
    const response = parseFetchResponse(0, 1, fixture.response.version, Reader.from(body));
    assert.equal(response.errorCode, 0);
    assert.equal(response.topics.length, 1);
    const [topic] = response.topics;
    assert.equal(topic!.topicId, fixture.response.topicId);
    assert.equal(topic!.partitions.length, 1);
    const [partition] = topic!.partitions;
    assert.equal(partition!.partition, 0);
    assert.equal(partition!.errorCode, 0);
    assert.equal(partition!.highWatermark, 5n);
    assert.equal(partition!.lastStableOffset, 5n);
    assert.equal(partition!.logStartOffset, 0n);
    assert.deepEqual(partition!.records, fetchedBytes(fixture.cases.plain!));
  });

  it('uses the newest Fetch version both sides speak, and names a broker too old for it', () => {
    assert.equal(fetchVersion([{ apiKey: 1, minVersion: 4, maxVersion: 16 }], 'broker a:9092'), 16);
    assert.equal(fetchVersion([{ apiKey: 1, minVersion: 4, maxVersion: 18 }], 'broker a:9092'), 17);
    assert.throws(
      () => fetchVersion([{ apiKey: 1, minVersion: 0, maxVersion: 12 }], 'broker a:9092'),
      (error: unknown) =>
        error instanceof UnsupportedFetchError &&
        error.code === 'PGRELAY_KAFKA_UNSUPPORTED' &&
        /broker a:9092: the broker offers Fetch v0\.\.v12; pgrelay needs v13 or newer/.test(error.message),
    );
  });
});
