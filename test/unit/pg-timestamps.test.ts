import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { isoTimestamp } from '../../src/sources/postgres/schema/values.js';

describe('timestamps as ISO 8601', () => {
  test('timestamptz: UTC with six fractional digits, however PostgreSQL wrote the fraction', () => {
    assert.equal(isoTimestamp('2024-01-02 03:04:05.123456+00', true), '2024-01-02T03:04:05.123456Z');
    assert.equal(isoTimestamp('2024-01-02 03:04:05.12+00', true), '2024-01-02T03:04:05.120000Z');
    assert.equal(isoTimestamp('2024-01-02 03:04:05+00', true), '2024-01-02T03:04:05.000000Z');
  });

  test('timestamptz in a session zone other than UTC keeps its offset', () => {
    assert.equal(isoTimestamp('2024-01-02 03:04:05.123456+05:30', true), '2024-01-02T03:04:05.123456+05:30');
    assert.equal(isoTimestamp('2024-01-02 03:04:05.123456-08', true), '2024-01-02T03:04:05.123456-08:00');
    assert.equal(isoTimestamp('2024-01-02 03:04:05.123456+01', true), '2024-01-02T03:04:05.123456+01:00');
  });

  test('timestamp without zone', () => {
    assert.equal(isoTimestamp('2024-01-02 03:04:05.123456', false), '2024-01-02T03:04:05.123456');
    assert.equal(isoTimestamp('2024-01-02 03:04:05.5', false), '2024-01-02T03:04:05.500000');
    assert.equal(isoTimestamp('2024-01-02 03:04:05', false), '2024-01-02T03:04:05.000000');
  });

  test('infinity, BC dates and years past 9999 as PostgreSQL wrote them, or in the general form', () => {
    assert.equal(isoTimestamp('infinity', true), 'infinity');
    assert.equal(isoTimestamp('-infinity', false), '-infinity');
    assert.equal(isoTimestamp('0044-03-15 12:00:00+00 BC', true), '0044-03-15 12:00:00+00 BC');
    assert.equal(isoTimestamp('12024-01-02 03:04:05.123456+00', true), '12024-01-02T03:04:05.123456Z');
    assert.equal(isoTimestamp('12024-01-02 03:04:05.123456', false), '12024-01-02T03:04:05.123456');
  });
});
