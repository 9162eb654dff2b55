/** Hashing: one pass, the same ids whichever hasher runs, the protocol's id format. */
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { readFile, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { after, before, it } from 'node:test';
import { browserHashing } from '../src/client/browser/file-hashing.js';
import { wasmMd5, wasmSha256 } from '../src/client/browser/wasm-md5.js';
import {
  type FileHashing,
  hashSource,
  sequentialHashes,
  withMd5,
  withSha256,
} from '../src/client/core/hashing.js';
import { pairable, pairedHashes } from '../src/client/core/md5-pair.js';
import { defaultChunkSize } from '../src/client/core/upload.js';
import { fileSource } from '../src/client/node/file-source.js';
import { nodeHasher } from '../src/client/node/index.js';
import { parallelHasher } from '../src/client/node/parallel-hasher.js';
import { md5, randomBytesSeeded, sha256, writeRandomFile } from './helpers/bytes.js';
import { tempDir } from './helpers/server.js';

let dir: string;
before(async () => {
  dir = await tempDir('rt-hash-');
});
after(() => rm(dir, { recursive: true, force: true }));

const MiB = 1024 * 1024;

for (const [label, size, chunk] of [
  ['uneven size', 40 * MiB + 12345, 4 * MiB],
  ['exact multiple of the chunk size', 24 * MiB, 4 * MiB],
  ['one chunk', 17 * MiB, 32 * MiB],
] as const) {
  it(`the parallel hasher gives exactly the single-thread result (${label})`, async () => {
    const path = join(dir, `${size}.bin`);
    const fileId = await writeRandomFile(path, size, size % 97);
    const src = await fileSource(path);
    const calls: number[] = [];
    const a = await parallelHasher(src, chunk, (d) => calls.push(d));
    // Every hasher computes the whole file's SHA-256 in the same pass (PROTOCOL.md §Collisions).
    const b = await hashSource(src, chunk, withSha256(withMd5(md5Hasher), sha256Hasher), () => undefined);
    assert.equal(a.fileId, fileId);
    assert.equal(a.sha256, sha256(await readFile(path)));
    assert.deepEqual(a, b);
    assert.equal(a.chunkIds.length, Math.max(1, Math.ceil(size / chunk)));
    assert.equal(calls.at(-1), size, 'progress reaches the size');
    const viaEntry = await nodeHasher(src, chunk, () => undefined);
    assert.deepEqual(viaEntry, a);
    // A source that can only stream (no readInto) takes the copying path to the same result.
    const { readInto: _, ...streamOnly } = src;
    assert.deepEqual(await parallelHasher(streamOnly, chunk, () => undefined), a);
    // The browser build's MD5 (hash-wasm) through the same one-pass code, and the browser's own
    // choice (the paired MD5 for these chunk sizes), as its no-Worker fallback runs it.
    assert.deepEqual(
      await hashSource(src, chunk, withSha256(withMd5(wasmMd5), wasmSha256), () => undefined),
      a,
    );
    assert.deepEqual(await hashSource(src, chunk, browserHashing, () => undefined), a);
  });
}

it('chunk ids are the chunk MD5 followed by the index; an empty file is one empty chunk', async () => {
  const data = randomBytesSeeded(10, 1);
  const path = join(dir, 'small.bin');
  await import('node:fs/promises').then((fs) => fs.writeFile(path, data));
  const h = await nodeHasher(await fileSource(path), 4, () => undefined);
  assert.deepEqual(h.chunkIds, [
    md5(data.subarray(0, 4)) + 0,
    md5(data.subarray(4, 8)) + 1,
    md5(data.subarray(8)) + 2,
  ]);
  const empty = join(dir, 'empty.bin');
  await import('node:fs/promises').then((fs) => fs.writeFile(empty, ''));
  const e = await nodeHasher(await fileSource(empty), 4, () => undefined);
  assert.deepEqual(e, { fileId: md5(''), chunkSize: 4, chunkIds: [`${md5('')}0`], sha256: sha256('') });
});

it('the default chunk size is 4 MiB, grown so no file needs more than 10,000 chunks', () => {
  assert.equal(defaultChunkSize(0), 4 * MiB);
  assert.equal(defaultChunkSize(1024 * MiB), 4 * MiB);
  const huge = 200 * 1024 * MiB;
  assert.ok(Math.ceil(huge / defaultChunkSize(huge)) <= 10_000);
  assert.equal(defaultChunkSize(huge) % MiB, 0);
});

it('the paired MD5 (file and chunk digests in one pass) gives the sequential result for every shape', async () => {
  const data = randomBytesSeeded(300_000, 7);
  const feed = (h: FileHashing, bytes: Uint8Array, cuts: number[]) => {
    let at = 0;
    for (const cut of [...cuts, bytes.length]) {
      h.update(bytes.subarray(at, Math.max(at, Math.min(cut, bytes.length))));
      at = Math.max(at, Math.min(cut, bytes.length));
    }
    return h.finish();
  };
  let cases = 0;
  // Sizes around block, padding (55/56/64) and chunk boundaries; pieces cut anywhere.
  for (const chunk of [64, 128, 4096, 65536]) {
    for (const size of [
      0,
      1,
      55,
      56,
      63,
      64,
      65,
      119,
      120,
      127,
      128,
      129,
      4095,
      4096,
      4097,
      65536 + 3,
      300_000,
    ]) {
      const bytes = data.subarray(0, size);
      const cuts = [[], [1], [55, 56, 57], [63, 64, 200, 4095, 4097], [size >> 1, (size >> 1) + 7]];
      const expected = feed(await sequentialHashes(chunk, md5Hasher), bytes, []);
      assert.equal(expected.fileId, md5(bytes));
      for (const c of cuts) {
        assert.deepEqual(
          feed(await pairedHashes(chunk), bytes, c),
          expected,
          `chunk ${chunk}, size ${size}, cuts ${c}`,
        );
        cases++;
      }
    }
  }
  assert.equal(cases, 4 * 17 * 5);
  // A piece larger than the module's 8 MiB window, and a chunk size not on a block boundary.
  const big = randomBytesSeeded(20 * MiB + 5, 8);
  assert.deepEqual(
    feed(await pairedHashes(4 * MiB), big, []),
    feed(await sequentialHashes(4 * MiB, md5Hasher), big, []),
  );
  assert.equal(pairable(4 * MiB), true);
  assert.equal(pairable(1000), false);
  await assert.rejects(pairedHashes(1000), RangeError);
});

function nodeDigest(algorithm: 'md5' | 'sha256') {
  let h = createHash(algorithm);
  return {
    update: (d: Uint8Array) => {
      h.update(d);
    },
    digest: () => {
      const hex = h.digest('hex');
      h = createHash(algorithm);
      return hex;
    },
  };
}

function md5Hasher() {
  return nodeDigest('md5');
}

function sha256Hasher() {
  return nodeDigest('sha256');
}
