/** The local-disk backend against the storage conformance suite, plus its crash recovery. */
import assert from 'node:assert/strict';
import { appendFile, mkdir, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { it } from 'node:test';
import { DURABILITY_MODES, type DurabilityMode } from '../src/storage/local-disk/durability.js';
import { WorkerFold } from '../src/storage/local-disk/fold-worker.js';
import { LocalDiskStorage } from '../src/storage/local-disk/local-disk.js';
import { Trash } from '../src/storage/local-disk/trash.js';
import { md5, randomBytesSeeded, sha256 } from './helpers/bytes.js';
import { tempDir } from './helpers/server.js';
import { runStorageConformance, runStreamStoreConformance } from './storage-conformance.js';

/** The mode of the tests below the suites (RESUMABLE_DURABILITY, as for the CLI); the suites run in both. */
const durability = (process.env.RESUMABLE_DURABILITY ?? 'group') as DurabilityMode;

for (const mode of DURABILITY_MODES) {
  const localFixture = async () => {
    const dir = await tempDir('rt-store-');
    return {
      storage: new LocalDiskStorage(dir, { durability: mode }),
      reopen: () => new LocalDiskStorage(dir, { durability: mode }),
      dispose: () => rm(dir, { recursive: true, force: true }),
    };
  };
  runStorageConformance(`local disk, durability ${mode}`, localFixture);
  runStreamStoreConformance(`local disk, durability ${mode}`, localFixture);
}

/** Runs `fn` with a fresh data folder, removed afterwards. */
async function inStoreDir(fn: (dir: string) => Promise<void>): Promise<void> {
  const dir = await tempDir('rt-store-');
  try {
    await fn(dir);
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

it('local disk: start-up removes crash leftovers (temp files, uploads already published)', () =>
  inStoreDir(async (dir) => {
    const id = md5('published before the crash');
    await mkdir(join(dir, 'tmp'), { recursive: true });
    await writeFile(join(dir, 'tmp', 'half-written.chunk'), 'partial');
    await mkdir(join(dir, 'files'), { recursive: true });
    await writeFile(join(dir, 'files', id), 'published before the crash');
    await mkdir(join(dir, 'uploads', id, 'chunks'), { recursive: true });
    await writeFile(join(dir, 'uploads', id, 'plan.json'), '{}');
    await new LocalDiskStorage(dir, { durability }).init();
    assert.deepEqual(await readdir(join(dir, 'tmp')), []);
    assert.deepEqual(await readdir(join(dir, 'uploads')), []);
  }));

it('local disk: a removed upload leaves its folder at once and trash/ after; start-up empties trash/', () =>
  inStoreDir(async (dir) => {
    const s = new LocalDiskStorage(dir, { durability });
    await s.init();
    const data = randomBytesSeeded(3_000_000, 65);
    const id = md5(data);
    const plan = {
      fileId: id,
      ext: '.bin',
      chunkIds: [`${md5(data)}0`],
      size: null,
      chunkSize: null,
      name: null,
      createdAt: 1,
      updatedAt: 1,
    };
    await s.writePlan(plan);
    await s.commitChunk(await s.stageChunk(Readable.from([data]), 4_000_000), id);
    await s.removeUpload(id);
    assert.deepEqual(
      await readdir(join(dir, 'uploads')),
      [],
      'gone from uploads/ when removeUpload resolves',
    );
    assert.deepEqual(await s.heldChunks(id), new Map());
    // trash/ deleted under the running server: the next removal makes it again.
    await rm(join(dir, 'trash'), { recursive: true, force: true });
    await s.writePlan(plan);
    await s.removeUpload(id);
    assert.deepEqual(await readdir(join(dir, 'uploads')), []);
    await s.close();
    assert.deepEqual(await readdir(join(dir, 'trash')), [], 'a clean stop waits for the deletions');
    // A crash before a deletion: the next start finishes it.
    await mkdir(join(dir, 'trash', 'left-by-a-crash'), { recursive: true });
    await writeFile(join(dir, 'trash', 'left-by-a-crash', 'data'), data);
    await new LocalDiskStorage(dir, { durability }).init();
    assert.deepEqual(await readdir(join(dir, 'trash')), []);
  }));

it('local disk: trash/ deletes one thing at a time, however many are discarded at once', () =>
  inStoreDir(async (dir) => {
    const trash = new Trash(join(dir, 'trash'));
    await trash.reset();
    const folders = Array.from({ length: 40 }, (_, i) => join(dir, `upload-${i}`));
    for (const f of folders) {
      await mkdir(f);
      for (let j = 0; j < 20; j++) await writeFile(join(f, `chunk-${j}`), 'x'.repeat(4096));
    }
    let most = 0;
    await Promise.all(
      folders.map(async (f) => {
        await trash.discard(f);
        most = Math.max(most, trash.running);
      }),
    );
    assert.equal(most, 1, 'one deletion ran at a time');
    await trash.drain();
    assert.deepEqual(await readdir(join(dir, 'trash')), []);
    assert.deepEqual((await readdir(dir)).sort(), ['trash']);
  }));

it('local disk: chunks with a place are written into the upload file; a torn regions line is dropped; a chunk bigger than its place is refused', () =>
  inStoreDir(async (dir) => {
    const parts = [
      randomBytesSeeded(10_000, 60),
      randomBytesSeeded(10_000, 61),
      randomBytesSeeded(5_000, 62),
    ];
    const whole = Buffer.concat(parts);
    const id = md5(whole);
    const chunkIds = parts.map((p, i) => md5(p) + i);
    const target = (index: number) => ({
      fileId: id,
      index,
      offset: index * 10_000,
      length: parts[index]!.length,
      size: whole.length,
      chunkSize: 10_000,
    });
    const s = new LocalDiskStorage(dir, { durability });
    await s.init();
    await s.writePlan({
      fileId: id,
      ext: '.bin',
      chunkIds,
      size: whole.length,
      chunkSize: 10_000,
      name: null,
      createdAt: 1,
      updatedAt: 1,
    });
    await s.commitChunk(await s.stageChunk(Readable.from([parts[0]!]), 1e6, target(0)), id);
    assert.deepEqual(
      await readdir(join(dir, 'uploads', id, 'chunks')),
      [],
      'no chunk file: it went in place',
    );
    assert.ok((await readFile(join(dir, 'uploads', id, 'data'))).subarray(0, 10_000).equals(parts[0]!));
    // A crash in the middle of appending a record.
    await appendFile(join(dir, 'uploads', id, 'regions'), `1 ${md5(parts[1]!).slice(0, 10)}`);
    const s2 = new LocalDiskStorage(dir, { durability });
    await s2.init();
    assert.deepEqual([...(await s2.heldChunks(id)).keys()], [md5(parts[0]!)]);
    await assert.rejects(s2.stageChunk(Readable.from([randomBytesSeeded(6_000, 63)]), 1e6, target(2)), {
      code: 'CHUNK_TOO_LARGE',
    });
    await s2.commitChunk(await s2.stageChunk(Readable.from([parts[1]!]), 1e6, target(1)), id);
    const s3 = new LocalDiskStorage(dir, { durability });
    await s3.init();
    assert.deepEqual([...(await s3.heldChunks(id)).keys()].sort(), [md5(parts[0]!), md5(parts[1]!)].sort());
    await s3.commitChunk(await s3.stageChunk(Readable.from([parts[2]!]), 1e6, target(2)), id);
    await s3.assemble(id, {
      md5s: parts.map((p) => md5(p)),
      expectedSize: whole.length,
      name: null,
      ext: '.bin',
    });
    assert.ok((await readFile(join(dir, 'files', id))).equals(whole));
    assert.deepEqual(await readdir(join(dir, 'uploads')), []);
  }));

it('local disk: a regions log without its data file holds nothing', () =>
  inStoreDir(async (dir) => {
    const part = randomBytesSeeded(10_000, 64);
    const id = md5(part);
    const s = new LocalDiskStorage(dir, { durability });
    await s.init();
    await s.writePlan({
      fileId: id,
      ext: '.bin',
      chunkIds: [md5(part) + 0],
      size: 10_000,
      chunkSize: 10_000,
      name: null,
      createdAt: 1,
      updatedAt: 1,
    });
    const target = { fileId: id, index: 0, offset: 0, length: 10_000, size: 10_000, chunkSize: 10_000 };
    await s.commitChunk(await s.stageChunk(Readable.from([part]), 1e6, target), id);
    assert.equal((await s.heldChunks(id)).get(md5(part)), 10_000);
    await rm(join(dir, 'uploads', id, 'data'));
    const again = new LocalDiskStorage(dir, { durability });
    await again.init();
    assert.equal((await again.heldChunks(id)).size, 0);
    // Sent again, it goes in place and the file publishes.
    await again.commitChunk(await again.stageChunk(Readable.from([part]), 1e6, target), id);
    await again.assemble(id, { md5s: [md5(part)], expectedSize: 10_000, name: null, ext: '.bin' });
    assert.ok((await readFile(join(dir, 'files', id))).equals(part));
  }));

it('local disk: the fold worker hashes regions of a file in its own thread (no fallback to the loop)', () =>
  inStoreDir(async (dir) => {
    const bytes = randomBytesSeeded(50_000, 65);
    const path = join(dir, 'data');
    await writeFile(path, bytes);
    const fold = new WorkerFold(path);
    fold.add(0, 20_000);
    fold.add(20_000, 30_000);
    // null would mean the worker could not start or read, and assembly would hash on the loop.
    assert.deepEqual(await fold.digest(), {
      md5: md5(bytes),
      sha256: sha256(bytes),
    });
  }));
