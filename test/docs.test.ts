import assert from 'node:assert/strict';
import { readFile } from 'node:fs/promises';
import { it } from 'node:test';
import { renderErrorsDoc } from '../scripts/errors-doc.js';
import { renderMd5PairModule } from '../scripts/md5-wasm.js';

it('docs/errors.md matches the error table in the code (run npm run docs:errors)', async () => {
  assert.equal(await readFile(new URL('../docs/errors.md', import.meta.url), 'utf8'), renderErrorsDoc());
});

it('src/client/core/md5-pair-wasm.ts is what scripts/md5-wasm.ts generates (run npm run md5:wasm)', async () => {
  const committed = await readFile(new URL('../src/client/core/md5-pair-wasm.ts', import.meta.url), 'utf8');
  assert.equal(committed, await renderMd5PairModule());
});
