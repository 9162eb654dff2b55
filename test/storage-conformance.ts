/**
 * The storage conformance suite: every backend's test file calls runStorageConformance() with a
 * factory, so a new backend inherits every behaviour check (the tus DataStore pattern).
 */
import assert from 'node:assert/strict';
import { Readable } from 'node:stream';
import { after, before, describe, it } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { TransferError } from '../src/protocol/errors.js';
import type { ChunkTarget, Storage, UploadPlan } from '../src/storage/storage.js';
import type { StreamRecord, StreamStore } from '../src/storage/stream-store.js';
import { md5, randomBytesSeeded, sha256 } from './helpers/bytes.js';

export interface StorageFixture {
  storage: Storage;
  /** Another instance over the same stored data (what a restarted process sees). */
  reopen(): Storage;
  /** Called after the suite: remove what the backend wrote. */
  dispose(): Promise<void>;
}

function plan(fileId: string, chunkIds: string[], extra: Partial<UploadPlan> = {}): UploadPlan {
  return {
    fileId,
    ext: '.bin',
    chunkIds,
    size: null,
    chunkSize: null,
    name: null,
    createdAt: 1,
    updatedAt: 1,
    ...extra,
  };
}

/** A file cut into chunks of a fixed size, with its plan fields and each chunk's target. */
function layout(whole: Buffer, chunkSize: number) {
  const parts: Buffer[] = [];
  for (let at = 0; at < whole.length; at += chunkSize) parts.push(whole.subarray(at, at + chunkSize));
  const fileId = md5(whole);
  const md5s = parts.map((p) => md5(p));
  const planned = (extra: Partial<UploadPlan> = {}) =>
    plan(
      fileId,
      md5s.map((m, i) => m + i),
      { size: whole.length, chunkSize, ...extra },
    );
  const target = (index: number): ChunkTarget => ({
    fileId,
    index,
    offset: index * chunkSize,
    length: parts[index]!.length,
    size: whole.length,
    chunkSize,
    plan: planned(),
  });
  return { parts, fileId, md5s, target, planned };
}

async function readAll(s: Readable): Promise<Buffer> {
  const parts: Buffer[] = [];
  for await (const b of s) parts.push(b as Buffer);
  return Buffer.concat(parts);
}

export function runStorageConformance(name: string, create: () => Promise<StorageFixture>): void {
  describe(`storage conformance: ${name}`, () => {
    let fx: StorageFixture;
    let s: Storage;
    before(async () => {
      fx = await create();
      s = fx.storage;
      await s.init();
    });
    after(async () => {
      await s.close();
      await fx.dispose();
    });

    it('writes, replaces and reads plans', async () => {
      const id = md5('plan-test');
      assert.equal(await s.readPlan(id), undefined);
      await s.writePlan(plan(id, ['a'.repeat(32)]));
      assert.deepEqual((await s.readPlan(id))?.chunkIds, ['a'.repeat(32)]);
      await s.writePlan(plan(id, ['b'.repeat(32), `${'c'.repeat(32)}1`], { name: 'x.bin' }));
      const p = await s.readPlan(id);
      assert.deepEqual(p?.chunkIds, ['b'.repeat(32), `${'c'.repeat(32)}1`]);
      assert.equal(p?.name, 'x.bin');
      await s.removeUpload(id);
      assert.equal(await s.readPlan(id), undefined);
    });

    it('keeps one plan per session beside the plan from before sessions; chunks are shared', async () => {
      const whole = randomBytesSeeded(200_000, 61);
      const l = layout(whole, 100_000);
      const id = l.fileId;
      const a = 'a'.repeat(32);
      const b = 'b'.repeat(32);
      await s.writePlan(l.planned({ name: 'legacy.bin' }));
      await s.writePlan(l.planned({ session: a, owner: 'alice', ext: '.jpg', name: 'a.jpg' }));
      await s.writePlan(plan(id, [`${l.md5s[1]}0`], { session: b, owner: 'bob', ext: '.html' }));
      assert.equal((await s.readPlan(id))?.name, 'legacy.bin', 'no session: the plan from before');
      assert.equal((await s.readPlan(id, a))?.ext, '.jpg');
      assert.equal((await s.readPlan(id, b))?.ext, '.html', "bob's plan did not replace alice's");
      assert.equal((await s.readPlan(id, a))?.name, 'a.jpg');
      assert.deepEqual((await s.listPlans(id)).map((p) => p.session ?? null).sort(), [a, b, null].sort());
      // A chunk sent for one session is held for all (content-addressed, verified by its MD5).
      const staged = await s.stageChunk(Readable.from([l.parts[1]!]), 1_000_000, l.target(1));
      await s.commitChunk(staged, id);
      assert.equal((await s.heldChunks(id)).get(l.md5s[1]!), l.parts[1]!.length);
      await s.removePlan(id, b);
      assert.equal(await s.readPlan(id, b), undefined);
      assert.ok(await s.readPlan(id, a), "alice's session stays");
      assert.ok((await s.heldChunks(id)).has(l.md5s[1]!), 'the chunks stay with the upload');
      await s.removeUpload(id);
      assert.deepEqual(await s.listPlans(id), []);
    });

    it('removes the listed chunks, wherever held, and nothing else; a chunk removed can be sent again', async () => {
      const whole = randomBytesSeeded(300_000, 63);
      const l = layout(whole, 100_000);
      const id = l.fileId;
      await s.writePlan(l.planned({ session: 'a'.repeat(32) }));
      // Chunks 0 and 1 at their places (in the data file where the backend places chunks), one
      // plain chunk of another plan beside them.
      for (const i of [0, 1])
        await s.commitChunk(await s.stageChunk(Readable.from([l.parts[i]!]), 1e6, l.target(i)), id);
      const other = randomBytesSeeded(5000, 64);
      await s.commitChunk(await s.stageChunk(Readable.from([other]), 1e6), id);
      assert.equal((await s.heldChunks(id)).size, 3);

      await s.removeChunks(id, [l.md5s[0]!, md5(other), 'f'.repeat(32)]);
      assert.deepEqual([...(await s.heldChunks(id)).keys()], [l.md5s[1]!], 'only the unlisted chunk stays');
      assert.equal((await s.listPlans(id)).length, 1, 'the plans stay');
      const again = fx.reopen();
      await again.init();
      assert.deepEqual([...(await again.heldChunks(id)).keys()], [l.md5s[1]!], 'as a restart finds it');
      await again.close();

      // Sent again, and the rest: the file is made of the new copy.
      for (const i of [0, 2]) {
        const staged = await s.stageChunk(Readable.from([l.parts[i]!]), 1e6, l.target(i));
        assert.equal(await s.commitChunk(staged, id), true, `chunk ${i} is new to the upload`);
      }
      const file = await s.assemble(id, {
        md5s: l.md5s,
        expectedSize: whole.length,
        name: null,
        ext: '.bin',
      });
      const opened = await s.openFile(file.key);
      assert.ok(opened);
      assert.deepEqual(await readAll(opened.source.stream(0, whole.length - 1)), whole);
      await opened.source.close();
    });

    it('publishes an MD5 twin under <md5>-<sha16>; a matching upload is answered the published file', async () => {
      // Not a real collision (test/collisions.test.ts has one): two uploads whose bytes differ are
      // assembled under one upload key each; the store only sees that their SHA-256s differ.
      const first = randomBytesSeeded(1000, 62);
      const id = md5(first);
      const put = async (key: string, bytes: Buffer, sha: string | null) => {
        await s.writePlan(plan(key, [md5(bytes)]));
        await s.commitChunk(await s.stageChunk(Readable.from([bytes]), 1_000_000), key);
        return s.assemble(key, {
          md5s: [md5(bytes)],
          expectedSize: null,
          name: null,
          ext: '.bin',
          sha256: sha,
        });
      };
      const a = await put(id, first, null);
      assert.equal(a.key, id);
      assert.equal(a.sha256, sha256(first));
      // The same bytes again, declared: answered the published file, nothing written.
      const again = await put(`${id}-${sha256(first).slice(0, 16)}`, first, sha256(first));
      assert.equal(again.key, id);
      // A declared SHA-256 the bytes do not have: refused, nothing published.
      const wrong = 'e'.repeat(64);
      await assert.rejects(
        put(`${id}-${wrong.slice(0, 16)}`, first, wrong),
        (err: unknown) => err instanceof TransferError && err.code === 'FILE_SHA256_MISMATCH',
      );
      assert.equal(await s.statFile(`${id}-${wrong.slice(0, 16)}`), undefined);
      await s.removeUpload(`${id}-${wrong.slice(0, 16)}`);
    });

    it('stages a chunk while hashing it, and commits it once', async () => {
      const id = md5('commit-test');
      await s.writePlan(plan(id, ['x'.repeat(0) + md5('abc')]));
      const data = randomBytesSeeded(300_000, 1);
      const staged = await s.stageChunk(
        Readable.from([data.subarray(0, 1000), data.subarray(1000)]),
        1_000_000,
      );
      assert.equal(staged.md5, md5(data));
      assert.equal(staged.size, data.length);
      assert.equal((await s.heldChunks(id)).size, 0, 'a staged chunk is not held');
      assert.equal(await s.commitChunk(staged, id), true);
      assert.equal((await s.heldChunks(id)).get(md5(data)), data.length);
      const again = await s.stageChunk(Readable.from([data]), 1_000_000);
      assert.equal(await s.commitChunk(again, id), false, 'already held');
      assert.equal((await s.heldChunks(id)).size, 1);
      await s.removeUpload(id);
      assert.equal((await s.heldChunks(id)).size, 0);
    });

    it('refuses a chunk over the limit while streaming, keeping nothing', async () => {
      let produced = 0;
      const endless = new Readable({
        read() {
          produced += 65536;
          this.push(produced > 50 * 1024 * 1024 ? null : Buffer.alloc(65536));
        },
      });
      await assert.rejects(s.stageChunk(endless, 1024 * 1024), (e: unknown) => {
        return e instanceof TransferError && e.code === 'CHUNK_TOO_LARGE';
      });
      assert.ok(produced < 10 * 1024 * 1024, 'stopped reading soon after the limit');
    });

    it('discards staged chunks', async () => {
      const staged = await s.stageChunk(Readable.from([Buffer.from('bye')]), 100);
      await s.discardChunk(staged);
      assert.equal(await s.sweepTemp(0), 0, 'nothing left to sweep');
    });

    it('assembles in plan order (repeats allowed), verifies, publishes, removes the upload', async () => {
      const a = randomBytesSeeded(200_000, 2);
      const b = randomBytesSeeded(123_456, 3);
      const whole = Buffer.concat([a, b, a]);
      const id = md5(whole);
      await s.writePlan(plan(id, [md5(a) + 0, md5(b) + 1, md5(a) + 2]));
      for (const part of [a, b]) await s.commitChunk(await s.stageChunk(Readable.from([part]), 1e6), id);
      assert.equal(await s.statFile(id), undefined);
      const file = await s.assemble(id, {
        md5s: [md5(a), md5(b), md5(a)],
        expectedSize: whole.length,
        name: 'n.bin',
        ext: '.bin',
      });
      assert.equal(file.size, whole.length);
      assert.equal(file.name, 'n.bin');
      assert.equal(file.ext, '.bin');
      assert.equal(await s.readPlan(id), undefined, 'the upload is gone once published');
      const opened = await s.openFile(id);
      assert.ok(opened);
      assert.deepEqual(opened.file, await s.statFile(id));
      const src = opened.source;
      try {
        assert.equal(src.size, whole.length);
        assert.equal(md5(await readAll(src.stream(0, src.size - 1))), id);
        assert.deepEqual(await src.read(199_990, 200_009), whole.subarray(199_990, 200_010));
      } finally {
        await src.close();
      }
      // Once published, assembling again still verifies the upload's bytes (an instant answer is
      // never given for bytes nobody sent): no chunks make no such file, and the file stays.
      await assert.rejects(
        s.assemble(id, { md5s: [], expectedSize: null, name: null, ext: '.x' }),
        (err: unknown) => err instanceof TransferError && err.code === 'FILE_MD5_MISMATCH',
      );
      // The same chunks again (a request that saw them all held before this assembly removed
      // them): gone, which is UPLOAD_NOT_FOUND (the core answers it), never a 500.
      await assert.rejects(
        s.assemble(id, { md5s: [md5(a), md5(b), md5(a)], expectedSize: whole.length, name: null, ext: '.x' }),
        (err: unknown) => err instanceof TransferError && err.code === 'UPLOAD_NOT_FOUND',
      );
      assert.equal((await s.statFile(id))?.size, whole.length, 'the published file stays');
      assert.equal((await s.statFile(id))?.sha256, sha256(whole), 'its SHA-256 is recorded');
    });

    // Large files: with 5 MiB chunks an object store can build the file server-side (part copy);
    // with small chunks it must stream them into parts. Both must give the same bytes, and a
    // forged id must publish nothing on either path.
    for (const [label, chunkSize, count] of [
      ['5 MiB chunks', 5 * 1024 * 1024, 3],
      ['1 MiB chunks', 1024 * 1024, 11],
    ] as const) {
      it(`assembles a large file from ${label}; ranges read back; a forged id publishes nothing`, async () => {
        const parts = Array.from({ length: count }, (_, i) => randomBytesSeeded(chunkSize, 40 + i));
        parts.push(randomBytesSeeded(777_777, 39));
        const whole = Buffer.concat(parts);
        const id = md5(whole);
        const md5s = parts.map((p) => md5(p));
        const forged = md5(`forged ${label}`);
        for (const fileId of [id, forged]) {
          await s.writePlan(
            plan(
              fileId,
              md5s.map((m, i) => m + i),
            ),
          );
          for (const part of parts)
            await s.commitChunk(await s.stageChunk(Readable.from([part]), 64 * 1024 * 1024), fileId);
        }
        await assert.rejects(s.assemble(forged, { md5s, expectedSize: null, name: null, ext: '.bin' }), {
          code: 'FILE_MD5_MISMATCH',
        });
        assert.equal(await s.statFile(forged), undefined, 'nothing visible under a forged id');
        const file = await s.assemble(id, { md5s, expectedSize: whole.length, name: 'big.bin', ext: '.bin' });
        assert.equal(file.size, whole.length);
        const src = (await s.openFile(id))?.source;
        assert.ok(src);
        try {
          assert.equal(md5(await readAll(src.stream(0, src.size - 1))), id);
          const at = chunkSize - 10;
          assert.deepEqual(await readAll(src.stream(at, at + 99)), whole.subarray(at, at + 100));
        } finally {
          await src.close();
        }
        await s.removeUpload(forged);
      });
    }

    // Chunks sent with a target may be written straight into their place (the local disk does);
    // whatever a backend does with it, the observable behaviour must be the same.
    it('takes chunks with targets, mixed with plain ones, and assembles the same bytes', async () => {
      const whole = randomBytesSeeded(3 * 65_536 + 1234, 50);
      const f = layout(whole, 65_536);
      await s.writePlan(f.planned());
      const stage = (i: number, withTarget: boolean) =>
        s.stageChunk(
          Readable.from([f.parts[i]!.subarray(0, 1000), f.parts[i]!.subarray(1000)]),
          1e6,
          withTarget ? f.target(i) : undefined,
        );
      for (const [i, withTarget] of [
        [3, true],
        [1, false],
        [0, true],
      ] as const) {
        const staged = await stage(i, withTarget);
        assert.equal(staged.md5, f.md5s[i]);
        assert.equal(staged.size, f.parts[i]!.length);
        assert.equal(await s.commitChunk(staged, f.fileId), true);
      }
      // The same chunk twice at once: both staged, one commit stores it.
      const [a, b] = await Promise.all([stage(2, true), stage(2, true)]);
      const stored = [await s.commitChunk(a, f.fileId), await s.commitChunk(b, f.fileId)];
      assert.deepEqual(stored.sort(), [false, true]);
      const held = await s.heldChunks(f.fileId);
      assert.deepEqual(
        f.md5s.map((m) => held.get(m)),
        f.parts.map((p) => p.length),
      );
      const file = await s.assemble(f.fileId, {
        md5s: f.md5s,
        expectedSize: whole.length,
        name: null,
        ext: '.bin',
      });
      assert.equal(file.size, whole.length);
      const src = (await s.openFile(f.fileId))?.source;
      assert.ok(src);
      try {
        assert.ok((await readAll(src.stream(0, src.size - 1))).equals(whole));
      } finally {
        await src.close();
      }
      assert.equal(await s.readPlan(f.fileId), undefined);
    });

    it('keeps a chunk that does not fit its target, a target the plan no longer has, and held chunks across a new plan', async () => {
      const whole = randomBytesSeeded(4 * 50_000, 51);
      const f = layout(whole, 50_000);
      await s.writePlan(f.planned());
      // Bytes shorter than their place: still a held chunk (under their own MD5).
      const short = randomBytesSeeded(777, 52);
      const staged = await s.stageChunk(Readable.from([short]), 1e6, f.target(1));
      assert.equal(await s.commitChunk(staged, f.fileId), true);
      assert.equal((await s.heldChunks(f.fileId)).get(md5(short)), 777);
      // Chunks 0 and 2 held at their places; chunk 3 staged, then the plan changes layout under it.
      for (const i of [0, 2])
        await s.commitChunk(await s.stageChunk(Readable.from([f.parts[i]!]), 1e6, f.target(i)), f.fileId);
      const inFlight = await s.stageChunk(Readable.from([f.parts[3]!]), 1e6, f.target(3));
      const g = layout(whole, 100_000);
      await s.writePlan(g.planned());
      assert.equal(await s.commitChunk(inFlight, f.fileId), true);
      const held = await s.heldChunks(f.fileId);
      for (const i of [0, 2, 3])
        assert.equal(held.get(f.md5s[i]!), 50_000, `chunk ${i} of the old layout is still held`);
      // The new layout's chunks arrive at their places; the file assembles right.
      for (const i of [0, 1])
        await s.commitChunk(await s.stageChunk(Readable.from([g.parts[i]!]), 1e6, g.target(i)), g.fileId);
      await s.assemble(g.fileId, { md5s: g.md5s, expectedSize: whole.length, name: null, ext: '.bin' });
      const src = (await s.openFile(g.fileId))?.source;
      assert.ok(src);
      try {
        assert.ok((await readAll(src.stream(0, src.size - 1))).equals(whole));
      } finally {
        await src.close();
      }
    });

    it('a plan that moves chunks around the same layout fills places from held chunks', async () => {
      const a = randomBytesSeeded(40_000, 53);
      const b = randomBytesSeeded(40_000, 54);
      const first = layout(Buffer.concat([a, b, a]), 40_000);
      await s.writePlan(first.planned());
      for (const i of [0, 1])
        await s.commitChunk(
          await s.stageChunk(Readable.from([first.parts[i]!]), 1e6, first.target(i)),
          first.fileId,
        );
      // Same fileId (a client that got its list wrong, then right): b a a at the same places.
      const right = Buffer.concat([b, a, a]);
      const second = layout(right, 40_000);
      await s.writePlan({ ...second.planned(), fileId: first.fileId });
      const held = await s.heldChunks(first.fileId);
      assert.equal(held.get(md5(a)), 40_000);
      assert.equal(held.get(md5(b)), 40_000);
      // Every chunk is held, but the bytes are not the fileId's: refused, nothing published.
      await assert.rejects(
        s.assemble(first.fileId, { md5s: second.md5s, expectedSize: right.length, name: null, ext: '.bin' }),
        { code: 'FILE_MD5_MISMATCH' },
      );
      assert.equal(await s.statFile(first.fileId), undefined);
      await s.removeUpload(first.fileId);
      // The honest version of the same moves publishes the right bytes.
      await s.writePlan(layout(right, 40_000).planned({ chunkIds: [md5(a) + 0, md5(b) + 1, md5(a) + 2] }));
      for (const i of [0, 1])
        await s.commitChunk(
          await s.stageChunk(Readable.from([first.parts[i]!]), 1e6, {
            ...first.target(i),
            fileId: second.fileId,
          }),
          second.fileId,
        );
      await s.writePlan(second.planned());
      await s.assemble(second.fileId, {
        md5s: second.md5s,
        expectedSize: right.length,
        name: null,
        ext: '.bin',
      });
      const src = (await s.openFile(second.fileId))?.source;
      assert.ok(src);
      try {
        assert.ok((await readAll(src.stream(0, src.size - 1))).equals(right));
      } finally {
        await src.close();
      }
    });

    it('what was committed is held after a restart, and the upload completes there', async () => {
      const whole = randomBytesSeeded(3 * 30_000, 55);
      const f = layout(whole, 30_000);
      await s.writePlan(f.planned());
      await s.commitChunk(await s.stageChunk(Readable.from([f.parts[0]!]), 1e6, f.target(0)), f.fileId);
      await s.commitChunk(await s.stageChunk(Readable.from([f.parts[2]!]), 1e6), f.fileId);
      // Staged but never committed (the process dies before the answer): not held afterwards.
      const lost = await s.stageChunk(Readable.from([f.parts[1]!]), 1e6, f.target(1));
      const again = fx.reopen();
      await again.init();
      try {
        const held = await again.heldChunks(f.fileId);
        assert.deepEqual(
          [held.get(f.md5s[0]!), held.get(f.md5s[1]!), held.get(f.md5s[2]!)],
          [30_000, undefined, 30_000],
        );
        await again.commitChunk(
          await again.stageChunk(Readable.from([f.parts[1]!]), 1e6, f.target(1)),
          f.fileId,
        );
        await again.assemble(f.fileId, { md5s: f.md5s, expectedSize: whole.length, name: null, ext: '.bin' });
        const src = (await again.openFile(f.fileId))?.source;
        assert.ok(src);
        try {
          assert.ok((await readAll(src.stream(0, src.size - 1))).equals(whole));
        } finally {
          await src.close();
        }
      } finally {
        await again.close();
        await s.discardChunk(lost);
      }
    });

    it('refuses to publish when the whole MD5 or the size differs', async () => {
      const a = randomBytesSeeded(10_000, 4);
      const forged = md5('not these bytes');
      await s.writePlan(plan(forged, [md5(a)]));
      await s.commitChunk(await s.stageChunk(Readable.from([a]), 1e6), forged);
      await assert.rejects(
        s.assemble(forged, { md5s: [md5(a)], expectedSize: null, name: null, ext: '.bin' }),
        {
          code: 'FILE_MD5_MISMATCH',
        },
      );
      assert.equal(await s.statFile(forged), undefined);
      assert.equal(await s.openFile(forged), undefined);
      const real = md5(a);
      await s.writePlan(plan(real, [md5(a)]));
      await s.commitChunk(await s.stageChunk(Readable.from([a]), 1e6), real);
      await assert.rejects(s.assemble(real, { md5s: [md5(a)], expectedSize: 5, name: null, ext: '.bin' }), {
        code: 'SIZE_MISMATCH',
      });
      assert.equal(await s.statFile(real), undefined);
    });

    it('lists uploads with their last activity', async () => {
      const id = md5('listing');
      const before = Date.now() - 5000;
      await s.writePlan(plan(id, [md5('q')]));
      const found: { fileId: string; lastActivity: number }[] = [];
      for await (const u of s.listUploads()) found.push(u);
      const mine = found.find((u) => u.fileId === id);
      assert.ok(mine);
      assert.ok(mine.lastActivity >= before);
      await s.removeUpload(id);
    });
  });
}

/** A fresh stream upload record (no bytes), for the stream store cases. */
function streamRecord(id: string, extra: Partial<StreamRecord> = {}): StreamRecord {
  const now = Date.now();
  return {
    id,
    protocol: 'tus',
    length: null,
    offset: 0,
    metadata: null,
    name: null,
    type: null,
    client: 'test',
    createdAt: now,
    updatedAt: now,
    expiresAt: now + 60_000,
    concat: null,
    md5State: null,
    done: null,
    ...extra,
  };
}

let streamSeq = 0;
/** A valid stream id, distinct per call. */
function streamId(): string {
  return `T${String(++streamSeq).padStart(4, '0')}${randomBytesSeeded(15, streamSeq).toString('base64url').slice(0, 19)}`;
}

const tooMany = () => new TransferError('UPLOAD_LENGTH_EXCEEDED');

/** Appends `data` and commits it; resolves with the record after. */
async function appendAll(store: StreamStore, record: StreamRecord, data: Buffer): Promise<StreamRecord> {
  const seen: Buffer[] = [];
  const appended = await store.append(record, Readable.from([data]), {
    maxBytes: 1e9,
    tooMany,
    onBytes: (b) => {
      seen.push(b);
      return undefined;
    },
  });
  assert.ok(Buffer.concat(seen).equals(data), 'onBytes saw every byte, in order');
  const next = { ...record, offset: record.offset + appended.bytes };
  await appended.commit(next);
  return next;
}

async function readStream(store: StreamStore, records: StreamRecord[]): Promise<Buffer> {
  const parts: Buffer[] = [];
  for await (const b of store.bytes(records)) parts.push(b);
  return Buffer.concat(parts);
}

/** The store of a suite: a fresh fixture before its tests, closed and disposed after them. */
function suiteStore(create: () => Promise<StorageFixture>): { fx: StorageFixture; s: Storage } {
  const ref = {} as { fx: StorageFixture; s: Storage };
  before(async () => {
    ref.fx = await create();
    ref.s = ref.fx.storage;
    await ref.s.init();
  });
  after(async () => {
    await ref.s.close();
    await ref.fx.dispose();
  });
  return ref;
}

/**
 * The stream store (Storage.streams: tus and IETF uploads) conformance cases; every backend's
 * test file calls this beside runStorageConformance.
 */
export function runStreamStoreConformance(name: string, create: () => Promise<StorageFixture>): void {
  describe(`stream store conformance: ${name}`, () => {
    const ref = suiteStore(create);

    it('creates, reads and replaces records; an unknown id reads as undefined', async () => {
      const r = streamRecord(streamId(), { metadata: 'filename YS5iaW4=', name: 'a.bin' });
      await ref.s.streams.create(r);
      const read = await ref.s.streams.read(r.id);
      assert.equal(read?.name, 'a.bin');
      assert.equal(read?.offset, 0);
      await ref.s.streams.write({ ...read!, length: 10 });
      assert.equal((await ref.s.streams.read(r.id))?.length, 10);
      assert.equal(await ref.s.streams.read(streamId()), undefined);
    });

    it('appends at the offset; bytes count only once committed, and read back in order', async () => {
      const one = randomBytesSeeded(3000, 41);
      const two = randomBytesSeeded(7000, 42);
      let r = streamRecord(streamId());
      await ref.s.streams.create(r);
      r = (await ref.s.streams.read(r.id))!;
      r = await appendAll(ref.s.streams, r, one);
      r = (await ref.s.streams.read(r.id))!;
      assert.equal(r.offset, 3000);
      r = await appendAll(ref.s.streams, r, two);
      const read = (await ref.s.streams.read(r.id))!;
      assert.ok((await readStream(ref.s.streams, [read])).equals(Buffer.concat([one, two])));
    });

    it('a promise from onBytes is waited for before the next bytes are taken', async () => {
      let r = streamRecord(streamId());
      await ref.s.streams.create(r);
      r = (await ref.s.streams.read(r.id))!;
      const events: string[] = [];
      async function* body() {
        for (const word of ['one', 'two', 'three']) {
          events.push(`read ${word}`);
          yield Buffer.from(word);
        }
      }
      const appended = await ref.s.streams.append(r, body(), {
        maxBytes: 1e9,
        tooMany,
        onBytes: (b) => {
          events.push(`saw ${b.toString()}`);
          return sleep(20).then(() => {
            events.push(`done ${b.toString()}`);
          });
        },
      });
      assert.equal(appended.bytes, 11);
      for (const [before, after] of [
        ['done one', 'read two'],
        ['done two', 'read three'],
      ] as const) {
        assert.ok(events.indexOf(before) < events.indexOf(after), events.join(', '));
      }
      await appended.discard();
    });

    it('a discarded append counts nothing, and the next append writes over it', async () => {
      let r = streamRecord(streamId());
      await ref.s.streams.create(r);
      r = (await ref.s.streams.read(r.id))!;
      r = await appendAll(ref.s.streams, r, Buffer.from('keep'));
      r = (await ref.s.streams.read(r.id))!;
      const refused = await ref.s.streams.append(r, Readable.from([Buffer.from('drop me')]), {
        maxBytes: 1e9,
        tooMany,
        onBytes: () => undefined,
      });
      await refused.discard();
      r = await appendAll(ref.s.streams, r, Buffer.from('!'));
      const read = (await ref.s.streams.read(r.id))!;
      assert.equal(read.offset, 5);
      assert.equal((await readStream(ref.s.streams, [read])).toString(), 'keep!');
    });

    it('past maxBytes the append fails with the given error and nothing counts', async () => {
      let r = streamRecord(streamId(), { length: 4 });
      await ref.s.streams.create(r);
      r = (await ref.s.streams.read(r.id))!;
      await assert.rejects(
        ref.s.streams.append(r, Readable.from([Buffer.from('toolong')]), {
          maxBytes: 4,
          tooMany,
          onBytes: () => undefined,
        }),
        (err: unknown) => err instanceof TransferError && err.code === 'UPLOAD_LENGTH_EXCEEDED',
      );
      assert.equal((await ref.s.streams.read(r.id))?.offset, 0);
    });

    it('a body cut off keeps what arrived (the append says cut)', async () => {
      let r = streamRecord(streamId());
      await ref.s.streams.create(r);
      r = (await ref.s.streams.read(r.id))!;
      async function* cutBody() {
        yield Buffer.from('half');
        throw Object.assign(new Error('aborted'), { code: 'ECONNRESET' });
      }
      const appended = await ref.s.streams.append(r, cutBody(), {
        maxBytes: 1e9,
        tooMany,
        onBytes: () => undefined,
      });
      assert.equal(appended.cut, true);
      assert.equal(appended.bytes, 4);
      await appended.commit({ ...r, offset: 4 });
      const read = (await ref.s.streams.read(r.id))!;
      assert.equal((await readStream(ref.s.streams, [read])).toString(), 'half');
    });

    it('publishes one upload, and the concatenation of several, as files/<md5> with name, ext and SHA-256', async () => {
      const data = randomBytesSeeded(6000, 43);
      let r = streamRecord(streamId(), { name: 'one.txt' });
      await ref.s.streams.create(r);
      r = await appendAll(ref.s.streams, (await ref.s.streams.read(r.id))!, data);
      const file = await ref.s.streams.publish([(await ref.s.streams.read(r.id))!], {
        fileId: md5(data),
        size: data.length,
        name: 'one.txt',
        ext: '.txt',
        sha256: sha256(data),
      });
      assert.equal(file.fileId, md5(data));
      assert.equal(file.name, 'one.txt');
      assert.equal(file.sha256, sha256(data), 'recorded like every published file');
      assert.equal((await ref.s.statFile(md5(data)))?.sha256, sha256(data));
      const opened = await ref.s.openFile(md5(data));
      assert.ok(opened);
      assert.ok((await readAll(opened.source.stream(0, data.length - 1))).equals(data));
      await opened.source.close();

      const parts = [randomBytesSeeded(2500, 44), randomBytesSeeded(1, 45), randomBytesSeeded(4000, 46)];
      const records: StreamRecord[] = [];
      for (const p of parts) {
        let pr = streamRecord(streamId(), { concat: { kind: 'partial' } });
        await ref.s.streams.create(pr);
        pr = await appendAll(ref.s.streams, (await ref.s.streams.read(pr.id))!, p);
        records.push((await ref.s.streams.read(pr.id))!);
      }
      const whole = Buffer.concat(parts);
      await ref.s.streams.publish(records, {
        fileId: md5(whole),
        size: whole.length,
        name: null,
        ext: '',
        sha256: sha256(whole),
      });
      const joined = await ref.s.openFile(md5(whole));
      assert.ok(joined);
      assert.equal(joined.file.sha256, sha256(whole));
      assert.ok((await readAll(joined.source.stream(0, whole.length - 1))).equals(whole));
      await joined.source.close();
    });

    it('dropBytes keeps the record; remove deletes the upload; list names every upload', async () => {
      let r = streamRecord(streamId());
      await ref.s.streams.create(r);
      r = await appendAll(ref.s.streams, (await ref.s.streams.read(r.id))!, Buffer.from('bytes'));
      await ref.s.streams.dropBytes(r.id);
      assert.ok(await ref.s.streams.read(r.id));
      const listed: string[] = [];
      for await (const u of ref.s.streams.list()) listed.push(u.id);
      assert.ok(listed.includes(r.id));
      await ref.s.streams.remove(r.id);
      assert.equal(await ref.s.streams.read(r.id), undefined);
      const left: string[] = [];
      for await (const u of ref.s.streams.list()) left.push(u.id);
      assert.ok(!left.includes(r.id));
    });

    it('another instance over the same store reads what this one committed (a restart)', async () => {
      let r = streamRecord(streamId());
      await ref.s.streams.create(r);
      r = await appendAll(ref.s.streams, (await ref.s.streams.read(r.id))!, Buffer.from('durable'));
      const other = ref.fx.reopen();
      await other.init();
      const read = await other.streams.read(r.id);
      assert.equal(read?.offset, 7);
      assert.equal((await readStream(other.streams, [read!])).toString(), 'durable');
    });
  });
}
