import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { pgrelayKill } from '../../faults/cases/pgrelay-kill.js';
import { relayKill } from '../../faults/cases/relay-kill.js';
import { sigterm } from '../../faults/cases/sigterm.js';
import { type FaultCase, caseContext } from '../../faults/fault-case.js';
import { type CaseResult, passed, table } from '../../faults/report.js';

/** Runs a case of the fault suite (faults/) and prints its row. */
async function measure(fault: FaultCase): Promise<CaseResult> {
  const result = await fault.run(caseContext('make test', fault));
  process.stdout.write(`${table([result]).replace(/^/gm, '# ')}\n`);
  return result;
}

/** The fault suite's short version; `make faults` runs the full one. */
describe('fault suite, short', () => {
  it('kill -9 of pgrelay under mixed load loses nothing, and resends at most what was in flight', async () => {
    const result = await measure(pgrelayKill({ kills: 2, largeRows: 20_000, largeEvery: 2 }));
    assert.equal(result.lost, 0, result.problems.join('; '));
    assert.ok(result.expected > 20_000, `the load made changes (${result.expected})`);
    assert.ok(
      passed(result),
      `duplicates after each kill within what was in flight: ${result.notes.join('; ')}`,
    );
  });

  it('SIGTERM under load loses nothing and sends nothing twice', async () => {
    const result = await measure(sigterm({ stops: 1, largeRows: 50_000 }));
    assert.equal(result.lost, 0, result.problems.join('; '));
    assert.equal(result.duplicated, 0, 'a graceful stop resends nothing');
    assert.deepEqual(result.problems, []);
  });

  it('kill -9 of a Kafka relay loses nothing, and resends at most what was in flight', async () => {
    const result = await measure(relayKill({ messages: 30_000, kills: 1 }));
    assert.equal(result.lost, 0, result.problems.join('; '));
    assert.equal(result.expected, 30_000);
    assert.ok(passed(result), `duplicates within what was in flight: ${result.notes.join('; ')}`);
  });
});
