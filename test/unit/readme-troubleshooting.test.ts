import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { describe, test } from 'node:test';
import { ROOT } from '../harness/pgrelay.js';

/** README's Troubleshooting section, up to the next heading of its level. */
function troubleshooting(): string {
  const readme = fs.readFileSync(path.join(ROOT, 'README.md'), 'utf8');
  const section = /^## Troubleshooting\n([\s\S]*?)^## /m.exec(readme);
  assert.ok(section, 'README has a Troubleshooting section');
  return section[1]!;
}

/** What a broken-config fixture must fail with, for a config at /etc/pgrelay/pgrelay.toml. */
function fixtureError(name: string): string {
  const text = fs.readFileSync(path.join(ROOT, 'test/fixtures', name), 'utf8');
  const line = /^# error: (.*)$/m.exec(text);
  assert.ok(line, `${name} states its error`);
  return line[1]!.replaceAll('{file}', 'pgrelay.toml').replaceAll('{dir}', '/var/lib/pgrelay');
}

/**
 * The config traps of issue 11 are quoted in README's Troubleshooting with the messages check-config
 * gives (the fixtures' tests hold those): an operator searching for the message finds the fix.
 */
describe("README's Troubleshooting quotes check-config's messages", () => {
  for (const fixture of [
    'broken-topic-map-typo.toml',
    'broken-shared-slot-spelling.toml',
    'broken-state-directory.toml',
  ]) {
    test(fixture, () => {
      const message = fixtureError(fixture);
      assert.ok(troubleshooting().includes(`\`${message}\``), `README lacks: ${message}`);
    });
  }
});
