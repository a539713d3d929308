import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { describe, test } from 'node:test';
import { ESLint } from 'eslint';
import { ROOT } from '../harness/pgrelay.js';

/** The layer rule's complaints about `file` with `line` added, as eslint would report them. */
async function layerErrors(file: string, line: string): Promise<string[]> {
  const eslint = new ESLint({
    cwd: ROOT,
    ruleFilter: ({ ruleId }) => ruleId === 'import-x/no-restricted-paths',
  });
  const text = `${fs.readFileSync(path.join(ROOT, file), 'utf8')}\n${line}\n`;
  const [result] = await eslint.lintText(text, { filePath: path.join(ROOT, file) });
  return result!.messages.map((m) => m.message);
}

describe('imports run one way (eslint.config.js)', () => {
  test('a wrong-way import is an error naming the layers', async () => {
    const cases: [string, string, RegExp][] = [
      [
        'src/core/event.ts',
        "export type { Runtime } from '../runtime/runtime.js';",
        /core sits below .*runtime/,
      ],
      [
        'src/config/units.ts',
        "export { KafkaSink } from '../sinks/kafka/sink.js';",
        /config sits below .*sinks/,
      ],
      [
        'src/handlers/enrich/handler.ts',
        "export { KafkaSink } from '../../sinks/kafka/sink.js';",
        /handlers sits below .*sinks/,
      ],
      [
        'src/sinks/stub/sink.ts',
        "export { createEnrich } from '../../handlers/enrich/handler.js';",
        /sinks sits below .*handlers/,
      ],
      [
        'src/runtime/runtime.ts',
        "export { createHttpServer } from '../http/server.js';",
        /runtime sits below http, cli/,
      ],
      [
        'src/sources/kafka/decode.ts',
        "export { decodePgoutput } from '../postgres/protocol/pgoutput.js';",
        /a source kind does not import another/,
      ],
      [
        'src/runtime/runtime.ts',
        "export { createHandler } from '../../plugins/examples/tenant-topics.js';",
        /src never imports plugins/,
      ],
    ];
    for (const [file, line, expected] of cases) {
      const errors = await layerErrors(file, line);
      assert.equal(errors.length, 1, `${file}: ${line} → ${JSON.stringify(errors)}`);
      assert.match(errors[0]!, expected);
    }
  });

  test('imports downward pass', async () => {
    assert.deepEqual(
      await layerErrors('src/sources/kafka/decode.ts', "export { formatLsn } from '../../core/lsn.js';"),
      [],
    );
    assert.deepEqual(
      await layerErrors('src/cli/main.ts', "export { Runtime } from '../runtime/runtime.js';"),
      [],
    );
    assert.deepEqual(
      await layerErrors('src/runtime/components.ts', "export { KafkaSink } from '../sinks/kafka/sink.js';"),
      [],
    );
  });
});
