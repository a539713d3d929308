import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { describe, test } from 'node:test';
import { ROOT } from '../harness/pgrelay.js';

const DIR = path.join(ROOT, 'packaging/contrib/prometheus');
const RULES = path.join(DIR, 'pgrelay-alerts.yml');
const TESTS = path.join(DIR, 'pgrelay-alerts.test.yml');

function promtool(...args: string[]): { status: number | null; output: string } {
  const result = spawnSync('promtool', args, { cwd: DIR, encoding: 'utf8' });
  assert.equal(result.error, undefined, 'promtool runs (Debian package prometheus)');
  return { status: result.status, output: result.stdout + result.stderr };
}

describe('the shipped Prometheus alert rules', () => {
  test('are valid rules', () => {
    const check = promtool('check', 'rules', RULES);
    assert.equal(check.status, 0, check.output);
  });

  test('pass their unit tests (promtool test rules), which make every alert fire', () => {
    const alerts = [...fs.readFileSync(RULES, 'utf8').matchAll(/^\s+- alert: (\w+)$/gm)].map((m) => m[1]!);
    assert.ok(alerts.length >= 10, `only ${alerts.length} alerts`);
    const tests = fs.readFileSync(TESTS, 'utf8');
    for (const alert of alerts) {
      // An expectation that it fires: its alertname followed by a non-empty exp_alerts list.
      assert.match(tests, new RegExp(`alertname: ${alert}\\n\\s+exp_alerts:\\n\\s+- exp_labels`), alert);
    }
    const run = promtool('test', 'rules', TESTS);
    assert.equal(run.status, 0, run.output);
    assert.match(run.output, /SUCCESS/);
  });
});
