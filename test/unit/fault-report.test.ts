import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { type CaseResult, crashed, passed, table } from '../../faults/report.js';

function row(overrides: Partial<CaseResult> = {}): CaseResult {
  return {
    case: 'pgrelay kill -9 ×2',
    injected: 'SIGKILL',
    expected: 1200,
    lost: 0,
    duplicated: 900,
    worstDuplicates: 600,
    duplicateBound: 1000,
    recoveries: [2100, 3400],
    problems: [],
    notes: [],
    ...overrides,
  };
}

/** The fault suite's verdicts and its one table. */
describe('fault suite: verdict and table', () => {
  it('passes nothing lost, duplicates within the bound per fault, no failed check', () => {
    assert.equal(passed(row()), true);
    assert.equal(passed(row({ lost: 1 })), false);
    assert.equal(passed(row({ worstDuplicates: 1001 })), false);
    assert.equal(passed(row({ problems: ['exit status 1'] })), false);
  });

  it('fails a case that could not measure, and shows its counts as unknown', () => {
    const result = crashed('SIGTERM under load ×1', 'SIGTERM', new Error('broker gone\nstack'));
    assert.equal(passed(result), false);
    const line = table([result]).split('\n')[2]!;
    assert.match(line, /\| \? +\| \? +\|/);
    assert.match(line, /the case failed: broker gone \|/);
  });

  it('prints one Markdown row per case with counts, bound, recovery and verdict', () => {
    const lines = table([
      row(),
      row({ case: 'SIGTERM', duplicated: 5, worstDuplicates: 5, duplicateBound: 0, recoveries: [undefined] }),
    ]).split('\n');
    assert.equal(lines.length, 4);
    assert.match(
      lines[0]!,
      /^\| case +\| injected +\| expected \| lost \| duplicated +\| bound +\| recovery +\| verdict \| notes \|$/,
    );
    const cells = (line: string) =>
      line
        .split('|')
        .slice(1, -1)
        .map((c) => c.trim());
    assert.deepEqual(cells(lines[2]!), [
      'pgrelay kill -9 ×2',
      'SIGKILL',
      '1,200',
      '0',
      '900 (worst fault 600)',
      '1,000 per fault',
      'median 2.1 s, max 3.4 s',
      'PASS',
      '',
    ]);
    assert.deepEqual(cells(lines[3]!).slice(4, 8), ['5', '0', '1 never', 'FAIL']);
  });
});
