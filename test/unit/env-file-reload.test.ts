import assert from 'node:assert/strict';
import { after, describe, test } from 'node:test';
import { EnvironmentFile } from '../../src/cli/environment.js';
import { scratchDir } from '../helpers/cli.js';

/**
 * `systemctl reload` rereads the environment file beside the config (systemd reads it only at the
 * start), so a rotated secret takes effect; variables set outside the file win, then as at the start.
 */
describe('the environment file, applied at the start and again at each reload', () => {
  const scratch = scratchDir();
  after(scratch.remove);

  test('a value changed in the file replaces the one it set; one set outside the file wins', () => {
    const file = scratch.write('relay.env', 'PASSWORD=first\nOUTSIDE=from-file\nGONE=soon\n');
    const env: NodeJS.ProcessEnv = { OUTSIDE: 'from-shell' };
    const environment = new EnvironmentFile(file);
    assert.equal(environment.apply(env), undefined);
    assert.deepEqual(env, { OUTSIDE: 'from-shell', PASSWORD: 'first', GONE: 'soon' });

    scratch.write('relay.env', 'PASSWORD=rotated\nOUTSIDE=changed-in-file\nNEW=added\n');
    environment.apply(env);
    assert.deepEqual(env, { OUTSIDE: 'from-shell', PASSWORD: 'rotated', NEW: 'added' });
  });

  test('under systemd the file set its variables already: they still follow the file', () => {
    const file = scratch.write('unit.env', 'PASSWORD=first\n');
    // systemd put the file's variables into the environment when it started the unit.
    const env: NodeJS.ProcessEnv = { PASSWORD: 'first' };
    const environment = new EnvironmentFile(file);
    environment.apply(env);
    scratch.write('unit.env', 'PASSWORD=rotated\n');
    environment.apply(env);
    assert.equal(env.PASSWORD, 'rotated');
  });

  test('no file is no variables; a file that stops parsing fails the reload, naming the line', () => {
    const environment = new EnvironmentFile(`${scratch.dir}/missing.env`);
    const env: NodeJS.ProcessEnv = {};
    assert.equal(environment.apply(env), undefined);
    assert.deepEqual(env, {});
    const file = scratch.write('broken.env', 'A=1\n');
    const broken = new EnvironmentFile(file);
    broken.apply(env);
    scratch.write('broken.env', 'A=2\nexport B=3\n');
    assert.throws(() => broken.apply(env), new RegExp(`${file}:2: `));
    assert.equal(env.A, '1', 'nothing applied from a file that does not parse');
  });
});
