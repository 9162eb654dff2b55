/**
 * Small files written without fsync go through one trip to the small-files thread
 * (io/small-files.ts): folders made where missing, the content replaced atomically, and a failure
 * reaches the caller with its errno code (what mapFsError maps), leaving no temp file behind.
 */
import assert from 'node:assert/strict';
import { mkdir, readdir, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { writeFileAtomic } from '../src/io/fs-util.js';
import { tempDir } from './helpers/server.js';

describe('small files', () => {
  it('makes the folders, then replaces the file atomically', async () => {
    const root = await tempDir();
    const tmp = join(root, 'tmp');
    await mkdir(tmp);
    const dir = join(root, 'uploads', 'abc', 'sessions');
    const path = join(dir, 'plan.json');
    await writeFileAtomic(path, tmp, '{"a":1}', false, [join(root, 'uploads', 'abc'), dir]);
    assert.equal(await readFile(path, 'utf8'), '{"a":1}');
    await writeFileAtomic(path, tmp, '{"a":2}', false, [dir]);
    assert.equal(await readFile(path, 'utf8'), '{"a":2}');
    assert.deepEqual(await readdir(tmp), []);
  });

  it('fails with the errno code and leaves no temp file', async () => {
    const root = await tempDir();
    const tmp = join(root, 'tmp');
    await mkdir(tmp);
    // A file where a folder should be: the rename fails (ENOTDIR).
    await writeFile(join(root, 'blocker'), 'x');
    await assert.rejects(writeFileAtomic(join(root, 'blocker', 'f.json'), tmp, 'data', false), {
      code: 'ENOTDIR',
    });
    assert.deepEqual(await readdir(tmp), []);
    // Many at once, in order per path: the last one written wins.
    const path = join(root, 'many.json');
    await Promise.all(Array.from({ length: 50 }, (_, i) => writeFileAtomic(path, tmp, String(i), false)));
    assert.equal(await readFile(path, 'utf8'), '49');
  });
});
