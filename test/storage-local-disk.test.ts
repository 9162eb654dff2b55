/** The local-disk backend against the storage conformance suite, plus its crash recovery. */
import assert from 'node:assert/strict';
import { mkdir, readdir, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { it } from 'node:test';
import { LocalDiskStorage } from '../src/storage/local-disk.js';
import { md5 } from './helpers/bytes.js';
import { tempDir } from './helpers/server.js';
import { runStorageConformance } from './storage-conformance.js';

runStorageConformance('local disk', async () => {
  const dir = await tempDir('rt-store-');
  return { storage: new LocalDiskStorage(dir), dispose: () => rm(dir, { recursive: true, force: true }) };
});

it('local disk: start-up removes crash leftovers (temp files, uploads already published)', async () => {
  const dir = await tempDir('rt-store-');
  try {
    const id = md5('published before the crash');
    await mkdir(join(dir, 'tmp'), { recursive: true });
    await writeFile(join(dir, 'tmp', 'half-written.chunk'), 'partial');
    await mkdir(join(dir, 'files'), { recursive: true });
    await writeFile(join(dir, 'files', id), 'published before the crash');
    await mkdir(join(dir, 'uploads', id, 'chunks'), { recursive: true });
    await writeFile(join(dir, 'uploads', id, 'plan.json'), '{}');
    await new LocalDiskStorage(dir).init();
    assert.deepEqual(await readdir(join(dir, 'tmp')), []);
    assert.deepEqual(await readdir(join(dir, 'uploads')), []);
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
});
