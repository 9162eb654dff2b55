/**
 * The S3 backend's part path (storage/s3/part-uploads.ts): chunks of ≥ 5 MiB of an upload that
 * declared its SHA-256 go straight into the parts of one multipart upload, in turn, and assembly
 * is CompleteMultipartUpload: no chunk object, no staged object, the whole-file digests folded on
 * the way; chunks that cannot take their turn become chunk objects, read back only themselves.
 */
import assert from 'node:assert/strict';
import { Readable } from 'node:stream';
import { describe, it } from 'node:test';
import {
  CreateMultipartUploadCommand,
  ListMultipartUploadsCommand,
  ListObjectsV2Command,
} from '@aws-sdk/client-s3';
import { fileKey } from '../src/protocol/ids.js';
import type { S3Storage } from '../src/storage/s3/s3.js';
import { S3Storage as Backend } from '../src/storage/s3/s3.js';
import type { ChunkTarget, UploadPlan } from '../src/storage/storage.js';
import { md5, randomBytesSeeded, sha256 } from './helpers/bytes.js';
import { emptyPrefix, s3Endpoint } from './helpers/s3.js';

const MiB = 1024 * 1024;
const ep = s3Endpoint();

/** A file of three 5 MiB chunks and a short last one, its plan (SHA-256 declared) and targets. */
function upload(seed: number, declared = true) {
  const parts = [0, 1, 2].map((i) => randomBytesSeeded(5 * MiB, seed + i));
  parts.push(randomBytesSeeded(777_777, seed + 3));
  const whole = Buffer.concat(parts);
  const sha = sha256(whole);
  const fileId = fileKey(md5(whole), declared ? sha : null);
  const md5s = parts.map((p) => md5(p));
  const plan: UploadPlan = {
    fileId,
    ext: '.bin',
    chunkIds: md5s.map((m, i) => m + i),
    size: whole.length,
    chunkSize: 5 * MiB,
    name: 'parts.bin',
    createdAt: 1,
    updatedAt: 1,
    session: null,
    sha256: declared ? sha : null,
  };
  const target = (index: number): ChunkTarget => ({
    fileId,
    index,
    offset: index * 5 * MiB,
    length: parts[index]!.length,
    size: whole.length,
    chunkSize: 5 * MiB,
    plan,
  });
  return { parts, whole, sha, fileId, md5s, plan, target };
}

async function keysUnder(s: S3Storage, under: string): Promise<string[]> {
  const page = await s.client.send(
    new ListObjectsV2Command({ Bucket: s.bucket, Prefix: `${s.prefix}${under}` }),
  );
  return (page.Contents ?? []).map((o) => o.Key!.slice(s.prefix.length));
}

async function multipartUploads(s: S3Storage) {
  return (
    (await s.client.send(new ListMultipartUploadsCommand({ Bucket: s.bucket, Prefix: s.prefix }))).Uploads ??
    []
  );
}

async function readFile(s: S3Storage, key: string): Promise<Buffer> {
  const src = (await s.openFile(key))?.source;
  assert.ok(src, `${key} is published`);
  try {
    const out: Buffer[] = [];
    for await (const b of src.stream(0, src.size - 1)) out.push(b as Buffer);
    return Buffer.concat(out);
  } finally {
    await src.close();
  }
}

describe('S3 part path', { skip: typeof ep === 'string' ? ep : false, timeout: 300_000 }, () => {
  const storage = (prefix?: string, partWaitMs?: number) => {
    if (typeof ep === 'string') throw new Error(ep);
    return new Backend({
      ...ep,
      prefix: prefix ?? `t-${Math.random().toString(16).slice(2, 14)}/`,
      partWaitMs,
    });
  };

  it('streams chunks into parts (one ahead of its turn waits for the fold), refuses other bytes, completes without a chunk object', async () => {
    const s = storage();
    await s.init();
    try {
      const f = upload(70);
      await s.writePlan(f.plan);
      const stage = (i: number, bytes = f.parts[i]!) =>
        s.stageChunk(
          Readable.from([bytes.subarray(0, 100_000), bytes.subarray(100_000)]),
          64 * MiB,
          f.target(i),
        );
      assert.equal(await s.commitChunk(await stage(0), f.fileId), true);
      // Chunk 2 arrives before chunk 1: its part goes in at once, its bytes wait for the fold.
      const second = stage(2);
      assert.equal(await s.commitChunk(await stage(1), f.fileId), true);
      assert.equal(await s.commitChunk(await second, f.fileId), true);
      // The same chunk again (a retry, or another process): held already, the part unchanged.
      assert.equal(await s.commitChunk(await stage(1), f.fileId), false);
      // Other bytes under chunk 3's id and place: refused, nothing of them kept.
      await assert.rejects(stage(3, randomBytesSeeded(777_777, 1)), { code: 'CHUNK_MD5_MISMATCH' });
      // One byte changed, the length right: the store's Content-MD5 check refuses the part (the
      // backend no longer hashes a part's bytes itself).
      const flipped = Buffer.from(f.parts[3]!);
      flipped[12_345] = flipped[12_345]! ^ 1;
      await assert.rejects(stage(3, flipped), { code: 'CHUNK_MD5_MISMATCH' });
      assert.equal(await s.commitChunk(await stage(3), f.fileId), true);
      const held = await s.heldChunks(f.fileId);
      assert.deepEqual(
        f.md5s.map((m) => held.get(m)),
        f.parts.map((p) => p.length),
      );
      assert.deepEqual(await keysUnder(s, 'tmp/'), [], 'no staged object');
      assert.deepEqual(await keysUnder(s, `uploads/${f.fileId}/chunks/`), [], 'no chunk object');
      assert.equal((await multipartUploads(s)).length, 1, 'one multipart upload holds the parts');
      // The sweeper leaves it however old: it is the upload's, not a dead process's.
      await new Promise((r) => setTimeout(r, 1100));
      assert.equal(await s.sweepTemp(1), 0);
      assert.equal((await multipartUploads(s)).length, 1);

      // Told another MD5 (options.md5, as a deferred commit names it): verified against that one,
      // refused, nothing published under either MD5; the parts are still the upload's.
      const assembled = { md5s: f.md5s, expectedSize: f.whole.length, name: 'parts.bin', ext: '.bin' };
      await assert.rejects(s.assemble(f.fileId, { ...assembled, sha256: f.sha, md5: md5('other') }), {
        code: 'FILE_MD5_MISMATCH',
      });
      assert.equal(await s.statFile(md5('other')), undefined);
      assert.equal(await s.statFile(md5(f.whole)), undefined);
      assert.equal((await multipartUploads(s)).length, 1);

      const file = await s.assemble(f.fileId, { ...assembled, sha256: f.sha });
      assert.equal(file.size, f.whole.length);
      assert.equal(file.sha256, f.sha);
      assert.equal(file.name, 'parts.bin');
      assert.ok((await readFile(s, file.key)).equals(f.whole));
      assert.deepEqual(await multipartUploads(s), []);
      assert.deepEqual(await keysUnder(s, 'uploads/'), [], 'the upload is gone');
    } finally {
      await emptyPrefix(s);
      await s.close();
    }
  });

  it('removing a chunk the fold covers drops every part; a chunk object alone goes alone', async () => {
    const s = storage();
    await s.init();
    try {
      const f = upload(90);
      await s.writePlan(f.plan);
      const stage = (i: number) => s.stageChunk(Readable.from([f.parts[i]!]), 64 * MiB, f.target(i));
      for (const i of [0, 1]) assert.equal(await s.commitChunk(await stage(i), f.fileId), true);
      // Chunk 3 as a chunk object (a plain stage: no target).
      await s.commitChunk(await s.stageChunk(Readable.from([f.parts[3]!]), 64 * MiB), f.fileId);
      assert.equal((await multipartUploads(s)).length, 1);

      // A chunk object only: the parts stay.
      await s.removeChunks(f.fileId, [f.md5s[3]!]);
      assert.deepEqual([...(await s.heldChunks(f.fileId)).keys()].sort(), [f.md5s[0]!, f.md5s[1]!].sort());
      assert.equal((await multipartUploads(s)).length, 1);
      // Chunk 1 is folded into the saved digests with chunk 0: both parts go, the multipart upload too.
      await s.removeChunks(f.fileId, [f.md5s[1]!]);
      assert.equal((await s.heldChunks(f.fileId)).size, 0);
      assert.deepEqual(await multipartUploads(s), []);
      assert.deepEqual(await keysUnder(s, `uploads/${f.fileId}/parts.json`), []);
      assert.ok(await s.readPlan(f.fileId), 'the plan stays');

      // Sent again, in parts of a new multipart upload: the file is whole.
      for (const i of [0, 1, 2, 3]) assert.equal(await s.commitChunk(await stage(i), f.fileId), true);
      const file = await s.assemble(f.fileId, {
        md5s: f.md5s,
        expectedSize: f.whole.length,
        name: 'parts.bin',
        ext: '.bin',
        sha256: f.sha,
      });
      assert.ok((await readFile(s, file.key)).equals(f.whole));
    } finally {
      await emptyPrefix(s);
      await s.close();
    }
  });

  it('chunks out of turn become chunk objects; assembly reads back only those, and a forged id publishes nothing', async () => {
    const s = storage(undefined, 300);
    await s.init();
    try {
      const f = upload(80);
      await s.writePlan(f.plan);
      const stage = (i: number) => s.stageChunk(Readable.from([f.parts[i]!]), 64 * MiB, f.target(i));
      // Chunk 1 first: chunk 0 does not come within the wait, so chunk 1 becomes a chunk object.
      assert.equal(await s.commitChunk(await stage(1), f.fileId), true);
      assert.equal(await s.commitChunk(await stage(0), f.fileId), true);
      // The fold waits for chunk 1, which is a chunk object already: chunk 2 does not wait.
      assert.equal(await s.commitChunk(await stage(2), f.fileId), true);
      assert.equal(await s.commitChunk(await stage(3), f.fileId), true);
      assert.deepEqual(
        (await keysUnder(s, `uploads/${f.fileId}/chunks/`)).map((k) => k.split('/').pop()).sort(),
        [f.md5s[1], f.md5s[2], f.md5s[3]].sort(),
      );
      // Another process, another instance: the upload assembles there.
      const other = storage(s.prefix);
      try {
        const file = await other.assemble(f.fileId, {
          md5s: f.md5s,
          expectedSize: f.whole.length,
          name: null,
          ext: '.bin',
          sha256: f.sha,
        });
        assert.ok((await readFile(other, file.key)).equals(f.whole));
      } finally {
        await other.close();
      }
      assert.deepEqual(await multipartUploads(s), []);

      // A plan naming these chunks under another file's id: verified, refused, nothing visible.
      const g = upload(90);
      const forged = fileKey(md5('forged'), g.sha);
      await s.writePlan({ ...g.plan, fileId: forged });
      for (const i of [0, 1, 2, 3])
        await s.commitChunk(
          await s.stageChunk(Readable.from([g.parts[i]!]), 64 * MiB, { ...g.target(i), fileId: forged }),
          forged,
        );
      await assert.rejects(
        s.assemble(forged, {
          md5s: g.md5s,
          expectedSize: g.whole.length,
          name: null,
          ext: '.bin',
          sha256: g.sha,
        }),
        { code: 'FILE_MD5_MISMATCH' },
      );
      assert.equal(await s.statFile(md5('forged')), undefined);
      await s.removeUpload(forged);
      assert.deepEqual(await multipartUploads(s), [], 'removing the upload aborts its multipart upload');
    } finally {
      await emptyPrefix(s);
      await s.close();
    }
  });

  it("after a part's commit the held chunks include the chunk objects: from before parts.json, and from another process since", async () => {
    const s = storage();
    await s.init();
    const other = storage(s.prefix);
    try {
      const held = async (
        b: S3Storage,
        fileId: string,
        committed: Awaited<ReturnType<S3Storage['stageChunk']>>,
      ) => [...(await b.heldChunks(fileId, committed)).keys()].sort();
      // A chunk object before any part: the first part's commit lists it (parts.json did not exist
      // when it was committed, so nothing marked it).
      const f = upload(60);
      await s.writePlan(f.plan);
      const plain = await s.stageChunk(Readable.from([f.parts[3]!]), 64 * MiB);
      assert.equal(await s.commitChunk(plain, f.fileId), true);
      const first = await s.stageChunk(Readable.from([f.parts[0]!]), 64 * MiB, f.target(0));
      assert.equal(await s.commitChunk(first, f.fileId), true);
      assert.deepEqual(await held(s, f.fileId, first), [f.md5s[0], f.md5s[3]].sort());
      await s.removeUpload(f.fileId);

      // The first part's commit finds no chunk object, so the next receipts list none; a chunk
      // object another process commits since marks parts.json, and the next part's receipt sees it.
      const g = upload(70);
      await s.writePlan(g.plan);
      const p0 = await s.stageChunk(Readable.from([g.parts[0]!]), 64 * MiB, g.target(0));
      assert.equal(await s.commitChunk(p0, g.fileId), true);
      assert.deepEqual(await held(s, g.fileId, p0), [g.md5s[0]]);
      const o2 = await other.stageChunk(Readable.from([g.parts[2]!]), 64 * MiB);
      assert.equal(await other.commitChunk(o2, g.fileId), true);
      const p1 = await s.stageChunk(Readable.from([g.parts[1]!]), 64 * MiB, g.target(1));
      assert.equal(await s.commitChunk(p1, g.fileId), true);
      assert.deepEqual(await held(s, g.fileId, p1), [g.md5s[0], g.md5s[1], g.md5s[2]].sort());
      await s.removeUpload(g.fileId);
      assert.deepEqual(await multipartUploads(s), []);
    } finally {
      await other.close();
      await emptyPrefix(s);
      await s.close();
    }
  });

  it("a deferred upload's chunks are chunk objects, and it publishes under the MD5 its commit names", async () => {
    const s = storage();
    await s.init();
    try {
      // The part path's layout, even a SHA-256 (the commit declares it; the protocol's deferred
      // handshake cannot): the key is a provisional id, so no multipart upload can be aimed at the
      // file's key before the commit names its MD5.
      const f = upload(110);
      const key = md5('a provisional upload id');
      const plan: UploadPlan = { ...f.plan, fileId: key, deferred: true };
      await s.writePlan(plan);
      for (const i of [0, 1, 2, 3])
        await s.commitChunk(
          await s.stageChunk(Readable.from([f.parts[i]!]), 64 * MiB, { ...f.target(i), fileId: key, plan }),
          key,
        );
      assert.equal((await keysUnder(s, `uploads/${key}/chunks/`)).length, 4);
      assert.deepEqual(await keysUnder(s, `uploads/${key}/parts.json`), []);
      assert.deepEqual(await multipartUploads(s), []);
      const committed = {
        md5s: f.md5s,
        expectedSize: f.whole.length,
        name: null,
        ext: '.bin',
        sha256: f.sha,
      };
      // A commit naming another MD5: refused, nothing published under either.
      await assert.rejects(s.assemble(key, { ...committed, md5: md5('other') }), {
        code: 'FILE_MD5_MISMATCH',
      });
      assert.equal(await s.statFile(md5('other')), undefined);
      assert.equal(await s.statFile(md5(f.whole)), undefined);
      const file = await s.assemble(key, { ...committed, md5: md5(f.whole) });
      assert.equal(file.key, md5(f.whole));
      assert.ok((await readFile(s, file.key)).equals(f.whole));
      assert.deepEqual(await keysUnder(s, 'uploads/'), [], 'the upload is gone');
      assert.deepEqual(await multipartUploads(s), []);
    } finally {
      await emptyPrefix(s);
      await s.close();
    }
  });

  it('an MD5-only upload, or one a file is published for already, keeps the chunk objects', async () => {
    const s = storage();
    await s.init();
    try {
      const f = upload(100, false);
      await s.writePlan(f.plan);
      await s.commitChunk(await s.stageChunk(Readable.from([f.parts[0]!]), 64 * MiB, f.target(0)), f.fileId);
      assert.equal((await keysUnder(s, `uploads/${f.fileId}/chunks/`)).length, 1);
      assert.deepEqual(await multipartUploads(s), []);
      // A dead process's multipart upload to files/ that no upload names: swept by age.
      await s.client.send(
        new CreateMultipartUploadCommand({ Bucket: s.bucket, Key: `${s.prefix}files/${f.fileId}` }),
      );
      await new Promise((r) => setTimeout(r, 1100));
      assert.equal(await s.sweepTemp(1), 1);
      assert.deepEqual(await multipartUploads(s), []);
    } finally {
      await emptyPrefix(s);
      await s.close();
    }
  });
});
