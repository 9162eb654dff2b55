import assert from 'node:assert/strict';
import { readFile } from 'node:fs/promises';
import { it } from 'node:test';
import { renderErrorsDoc } from '../scripts/errors-doc.js';

it('docs/errors.md matches the error table in the code (run npm run docs:errors)', async () => {
  assert.equal(await readFile(new URL('../docs/errors.md', import.meta.url), 'utf8'), renderErrorsDoc());
});
