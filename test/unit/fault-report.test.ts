import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { result } from '../../faults/fault-case.js';
import { type CaseResult, crashed, passed, table } from '../../faults/report.js';

function row(overrides: Partial<CaseResult> = {}): CaseResult {
  return {
    case: 'pgrelay kill -9 ×2',
    injected: 'SIGKILL',
    expected: 1200,
    lost: 0,
    duplicated: 900,
    duplicatesPerFault: [0, 300, 600],
    bound: { perFault: 1000 },
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
    assert.equal(passed(row({ duplicatesPerFault: [0, 300, 1001] })), false);
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
      row({
        case: 'SIGTERM',
        duplicated: 5,
        duplicatesPerFault: [0, 5],
        bound: { perFault: 0 },
        recoveries: [undefined],
      }),
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

  it('holds the duplicates after each kill to what was measured in flight at it, and shows both', () => {
    const measured = row({
      duplicated: 900,
      duplicatesPerFault: [0, 300, 600],
      bound: { inFlight: [300, 650] },
    });
    assert.equal(passed(measured), true);
    assert.equal(
      passed({ ...measured, bound: { inFlight: [299, 650] } }),
      false,
      'one too many after kill 1',
    );
    assert.equal(passed({ ...measured, duplicatesPerFault: [1, 300, 600] }), false, 'none before any kill');
    const cells = table([measured])
      .split('\n')[2]!
      .split('|')
      .slice(1, -1)
      .map((c) => c.trim());
    assert.deepEqual(cells.slice(4, 6), ['900 (worst fault 600)', 'in flight: 950 (worst fault 650)']);

    const over = result(
      { name: 'pgrelay kill -9 ×2', injected: 'SIGKILL' },
      {
        expected: 10,
        lost: 0,
        duplicated: 700,
        duplicatesPerFault: [0, 300, 400],
        unexpected: 0,
        lostSample: [],
      },
      { bound: { inFlight: [300, 350] }, recoveries: [1000, 1000] },
    );
    assert.equal(passed(over), false);
    assert.deepEqual(over.notes, ['fault 2: 400 duplicates, 350 in flight'], 'the note names the kill');
  });
});
