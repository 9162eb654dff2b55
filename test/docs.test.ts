import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { readdir, readFile } from 'node:fs/promises';
import { dirname, join, relative } from 'node:path';
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

it('every link in README.md and docs/ stays inside the repository and points to a file that exists', async () => {
  const root = new URL('..', import.meta.url).pathname;
  const docs = (await readdir(join(root, 'docs'), { recursive: true }))
    .filter((f) => f.endsWith('.md'))
    .map((f) => join('docs', f));
  for (const file of ['README.md', ...docs]) {
    const text = await readFile(join(root, file), 'utf8');
    for (const [, target] of text.matchAll(/\]\(([^)\s]+)\)/g)) {
      if (!target || target.startsWith('#')) continue;
      assert.ok(
        !/^[a-z]+:/i.test(target) || /^https?:\/\/(localhost|127\.0\.0\.1)[:/]/.test(target),
        `${file}: ${target} leaves the repository`,
      );
      if (/^[a-z]+:/i.test(target)) continue;
      const path = join(dirname(join(root, file)), target.split('#')[0] ?? '');
      assert.ok(!relative(root, path).startsWith('..'), `${file}: ${target} leaves the repository`);
      assert.ok(existsSync(path), `${file}: ${target} does not exist`);
    }
  }
});
