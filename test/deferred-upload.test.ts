/**
 * Deferred uploads (issue 17, PROTOCOL.md §Deferred upload): a handshake that declares the layout
 * but no fileId, chunks sent as today, and a commit that names the fileId, verified by the
 * server's own assembly before anything is published or linked. Real server on port 0, real HTTP;
 * requesters are told apart by their loopback source address (127.0.0.2, 127.0.0.3).
 */
import assert from 'node:assert/strict';
import { readdir, rm, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { fileSource } from '../src/client/node/file-source.js';
import type { ByteSource } from '../src/client/node/index.js';
import { FileHashCache, findPreviousUploads, TransferError, upload } from '../src/client/node/index.js';
import { KeyedMutex } from '../src/io/keyed-mutex.js';
import { signUploadToken } from '../src/server/index.js';
import { cut, md5, randomBytesSeeded, sha256, writeRandomFile } from './helpers/bytes.js';
import { runCli } from './helpers/cli.js';
import { startProxy } from './helpers/flaky-proxy.js';
import { from, type Requester } from './helpers/requester.js';
import { emptyPrefix, s3Endpoint, s3Storage } from './helpers/s3.js';
import { startTestServer, type TestServer, tempDir } from './helpers/server.js';
import { startThrottleProxy } from './helpers/throttle-proxy.js';

const KiB = 1024;
const MiB = 1024 * KiB;
const CHUNK = 64 * KiB;
const owner = from('127.0.0.2');
const stranger = from('127.0.0.3');

interface Opened {
  uploadId: string;
  needed: unknown;
  remaining: number;
}

async function open(who: Requester, base: string, body: Record<string, unknown>): Promise<Opened> {
  const res = await who.call('POST', `${base}/api/upload/deferred`, body);
  assert.equal(res.status, 200, JSON.stringify(res.body));
  const b = res.body as unknown as { uploadId: string; data: unknown; remaining: number };
  assert.match(b.uploadId, /^[0-9a-f]{32}$/);
  return { uploadId: b.uploadId, needed: b.data, remaining: b.remaining };
}

/** The commit, its messages in English (the default is Chinese). */
function commit(who: Requester, base: string, body: Record<string, unknown>) {
  return who.call('POST', `${base}/api/upload/commit`, body, { 'accept-language': 'en' });
}

/** Sends every chunk of `data` to the deferred upload, as our client does: raw, id = MD5 + index. */
async function sendAll(
  who: Requester,
  base: string,
  uploadId: string,
  data: Buffer,
  skip: number[] = [],
  chunkSize = CHUNK,
) {
  const c = cut(data, chunkSize);
  for (let i = 0; i < c.chunks.length; i++) {
    if (skip.includes(i)) continue;
    const res = await who.chunk(base, uploadId, c.chunkIds[i]!, c.chunks[i]!);
    assert.equal(res.status, 200, JSON.stringify(res.body));
    // No chunk answer assembles a deferred upload: only its commit does.
    assert.equal(res.body.url, undefined);
  }
  return c;
}

describe('deferred upload: handshake without fileId, commit with it', () => {
  let srv: TestServer;
  before(async () => {
    srv = await startTestServer({ instantUpload: 'open' });
  });
  after(() => srv.close());

  it('the server advertises the extension in /api/version', async () => {
    const res = await owner.call('GET', `${srv.url}/api/version`);
    assert.ok((res.body.data as { extensions: string[] }).extensions.includes('deferred-upload'));
  });

  it('publishes a byte-exact file under its MD5 once the commit names it', async () => {
    const data = randomBytesSeeded(3 * CHUNK + 123, 1701);
    const opened = await open(owner, srv.url, {
      ext: '.bin',
      size: data.length,
      chunkSize: CHUNK,
      name: 'd.bin',
    });
    assert.deepEqual(opened.needed, [], 'no ids declared: none listed');
    assert.equal(opened.remaining, 4);
    const c = await sendAll(owner, srv.url, opened.uploadId, data);
    // Written in place (the layout and each id's index place them): no chunk kept apart to be
    // copied into the file at assembly.
    const upload = join(srv.dataDir, 'uploads', opened.uploadId);
    assert.deepEqual(await readdir(join(upload, 'chunks')), []);
    assert.equal((await stat(join(upload, 'data'))).size, data.length);
    // Nothing is published before the commit.
    assert.equal((await owner.call('GET', `${srv.url}/upload/${c.fileId}.bin`)).status, 404);
    // The commit reads the held chunks once (on S3 a LIST and a GET): assembly's bounds take them.
    const storage = srv.running.storage;
    const heldChunks = storage.heldChunks;
    let reads = 0;
    storage.heldChunks = (key, committed) => {
      if (key === opened.uploadId) reads++;
      return heldChunks.call(storage, key, committed);
    };
    let done: Awaited<ReturnType<typeof commit>>;
    try {
      done = await commit(owner, srv.url, {
        uploadId: opened.uploadId,
        fileId: c.fileId,
        chunkIds: c.chunkIds,
      });
    } finally {
      storage.heldChunks = heldChunks;
    }
    assert.equal(done.status, 200, JSON.stringify(done.body));
    assert.equal(reads, 1);
    assert.equal(done.body.data, `${srv.url}/upload/${c.fileId}.bin`);
    const got = await owner.call('GET', done.body.data as string);
    assert.equal(got.status, 200);
    assert.deepEqual(got.raw, data);
    // The provisional upload is gone with its publication.
    assert.equal((await owner.call('GET', `${srv.url}/api/upload/${opened.uploadId}`)).status, 404);
  });

  it('with the chunk ids declared up front (in place), the commit needs only the fileId and SHA-256', async () => {
    const data = randomBytesSeeded(2 * CHUNK + 7, 1702);
    const c = cut(data, CHUNK);
    const opened = await open(owner, srv.url, {
      ext: '.dat',
      size: data.length,
      chunkSize: CHUNK,
      chunkIds: c.chunkIds,
    });
    assert.deepEqual(opened.needed, c.chunkIds);
    await sendAll(owner, srv.url, opened.uploadId, data);
    const done = await commit(owner, srv.url, {
      uploadId: opened.uploadId,
      fileId: c.fileId,
      sha256: sha256(data),
    });
    assert.equal(done.status, 200, JSON.stringify(done.body));
    assert.deepEqual((await owner.call('GET', done.body.data as string)).raw, data);
  });

  it('a wrong final fileId: 422 FILE_MD5_MISMATCH, nothing published, the upload dropped', async () => {
    const data = randomBytesSeeded(2 * CHUNK + 50, 1703);
    const opened = await open(owner, srv.url, { ext: '.bin', size: data.length, chunkSize: CHUNK });
    const c = await sendAll(owner, srv.url, opened.uploadId, data);
    const wrong = md5('other bytes');
    const res = await commit(owner, srv.url, {
      uploadId: opened.uploadId,
      fileId: wrong,
      chunkIds: c.chunkIds,
    });
    assert.equal(res.status, 422);
    assert.equal(res.body.error, 'FILE_MD5_MISMATCH');
    assert.equal((await owner.call('GET', `${srv.url}/upload/${wrong}.bin`)).status, 404);
    assert.equal((await owner.call('GET', `${srv.url}/upload/${c.fileId}.bin`)).status, 404);
    // Dropped, as an ordinary upload whose bytes do not make its fileId: the right fileId is too late.
    const again = await commit(owner, srv.url, {
      uploadId: opened.uploadId,
      fileId: c.fileId,
      chunkIds: c.chunkIds,
    });
    assert.equal(again.status, 404);
    assert.equal(again.body.error, 'UPLOAD_NOT_FOUND');
    // Its chunks are not a published file, nor held for an upload of the real fileId.
    const hs = await owner.handshake(srv.url, { fileId: c.fileId, ext: '.bin', chunkIds: c.chunkIds });
    assert.deepEqual(hs.body.data, c.chunkIds);
  });

  it('a wrong declared SHA-256: 422 FILE_SHA256_MISMATCH, nothing published', async () => {
    const data = randomBytesSeeded(CHUNK + 9, 1704);
    const opened = await open(owner, srv.url, { ext: '.bin', size: data.length, chunkSize: CHUNK });
    const c = await sendAll(owner, srv.url, opened.uploadId, data);
    const res = await commit(owner, srv.url, {
      uploadId: opened.uploadId,
      fileId: c.fileId,
      sha256: sha256('not these bytes'),
      chunkIds: c.chunkIds,
    });
    assert.equal(res.status, 422);
    assert.equal(res.body.error, 'FILE_SHA256_MISMATCH');
    assert.equal((await owner.call('GET', `${srv.url}/upload/${c.fileId}.bin`)).status, 404);
  });

  it('a commit before every chunk is held: 409 CHUNKS_MISSING, the upload kept for the rest', async () => {
    const data = randomBytesSeeded(3 * CHUNK, 1705);
    const opened = await open(owner, srv.url, { ext: '.bin', size: data.length, chunkSize: CHUNK });
    const c = await sendAll(owner, srv.url, opened.uploadId, data, [1]);
    const early = await commit(owner, srv.url, {
      uploadId: opened.uploadId,
      fileId: c.fileId,
      chunkIds: c.chunkIds,
    });
    assert.equal(early.status, 409);
    assert.equal(early.body.error, 'CHUNKS_MISSING');
    assert.match(early.body.msg, /1 chunks are still missing/);
    assert.equal((await owner.call('GET', `${srv.url}/upload/${c.fileId}.bin`)).status, 404);
    assert.equal((await owner.chunk(srv.url, opened.uploadId, c.chunkIds[1]!, c.chunks[1]!)).status, 200);
    const done = await commit(owner, srv.url, {
      uploadId: opened.uploadId,
      fileId: c.fileId,
      chunkIds: c.chunkIds,
    });
    assert.equal(done.status, 200, JSON.stringify(done.body));
    assert.deepEqual((await owner.call('GET', done.body.data as string)).raw, data);
  });

  it("a stranger can neither send chunks to, inspect, delete nor commit someone's deferred upload", async () => {
    const data = randomBytesSeeded(2 * CHUNK, 1706);
    const opened = await open(owner, srv.url, { ext: '.bin', size: data.length, chunkSize: CHUNK });
    const c = cut(data, CHUNK);
    const chunk = await stranger.chunk(srv.url, opened.uploadId, c.chunkIds[0]!, c.chunks[0]!);
    assert.equal(chunk.status, 404);
    assert.equal(chunk.body.error, 'UPLOAD_NOT_FOUND');
    assert.equal((await stranger.call('GET', `${srv.url}/api/upload/${opened.uploadId}`)).status, 404);
    assert.equal((await stranger.call('DELETE', `${srv.url}/api/upload/${opened.uploadId}`)).status, 403);
    await sendAll(owner, srv.url, opened.uploadId, data);
    const theirs = await commit(stranger, srv.url, {
      uploadId: opened.uploadId,
      fileId: c.fileId,
      chunkIds: c.chunkIds,
    });
    assert.equal(theirs.status, 404);
    assert.equal(theirs.body.error, 'UPLOAD_NOT_FOUND');
    assert.equal((await owner.call('GET', `${srv.url}/upload/${c.fileId}.bin`)).status, 404);
    const mine = await commit(owner, srv.url, {
      uploadId: opened.uploadId,
      fileId: c.fileId,
      chunkIds: c.chunkIds,
    });
    assert.equal(mine.status, 200, JSON.stringify(mine.body));
  });

  it('chunks are placed by their index and the layout: wrong index or length refused, never more than the size', async () => {
    const data = randomBytesSeeded(2 * CHUNK + 10, 1707);
    const opened = await open(owner, srv.url, { ext: '.bin', size: data.length, chunkSize: CHUNK });
    const c = cut(data, CHUNK);
    // No index: the chunk has no place.
    const bare = await owner.chunk(srv.url, opened.uploadId, md5(c.chunks[0]!), c.chunks[0]!);
    assert.equal(bare.body.error, 'CHUNK_NOT_IN_PLAN');
    const outside = await owner.chunk(srv.url, opened.uploadId, `${md5(c.chunks[0]!)}3`, c.chunks[0]!);
    assert.equal(outside.body.error, 'CHUNK_NOT_IN_PLAN');
    // The last place is 10 bytes: a full chunk there is refused (written in place, it is refused
    // as its bytes pass the place's end), and so is a short one for a full place.
    const long = await owner.chunk(srv.url, opened.uploadId, `${md5(c.chunks[0]!)}2`, c.chunks[0]!);
    assert.equal(long.status, 413);
    assert.equal(long.body.error, 'CHUNK_TOO_LARGE');
    const short = await owner.chunk(srv.url, opened.uploadId, `${md5(c.chunks[2]!)}0`, c.chunks[2]!);
    assert.equal(short.status, 422);
    assert.equal(short.body.error, 'SIZE_MISMATCH');
    // Other bytes for places already filled cannot grow the upload past its declared size.
    for (let i = 0; i < c.chunks.length; i++)
      await owner.chunk(srv.url, opened.uploadId, c.chunkIds[i]!, c.chunks[i]!);
    const extra = randomBytesSeeded(CHUNK, 1708);
    const over = await owner.chunk(srv.url, opened.uploadId, `${md5(extra)}0`, extra);
    assert.equal(over.status, 413);
    assert.equal(over.body.error, 'FILE_TOO_LARGE');
    const state = await owner.call('GET', `${srv.url}/api/upload/${opened.uploadId}`);
    assert.equal((state.body.data as { bytesHeld: number }).bytesHeld, data.length);
  });

  it('a layout past the limits is refused before anything is kept: too many chunks, too large a chunk', async () => {
    // The only bound on a size and chunk size an outsider picks: the count they make.
    const tooMany = await owner.call('POST', `${srv.url}/api/upload/deferred`, {
      ext: '.bin',
      size: 100_001,
      chunkSize: 1,
    });
    assert.equal(tooMany.status, 413);
    assert.equal(tooMany.body.error, 'TOO_MANY_CHUNKS');
    const tooLarge = await owner.call('POST', `${srv.url}/api/upload/deferred`, {
      ext: '.bin',
      size: 256 * MiB,
      chunkSize: 128 * MiB,
    });
    assert.equal(tooLarge.status, 413);
    assert.equal(tooLarge.body.error, 'CHUNK_TOO_LARGE');
  });

  it('a deferred handshake must declare its layout; the seed handshake without fileId is unchanged', async () => {
    const noSize = await owner.call('POST', `${srv.url}/api/upload/deferred`, {
      ext: '.bin',
      chunkSize: CHUNK,
    });
    assert.equal(noSize.status, 400);
    assert.equal(noSize.body.error, 'INVALID_FIELD');
    const badIds = await owner.call('POST', `${srv.url}/api/upload/deferred`, {
      ext: '.bin',
      size: 3 * CHUNK,
      chunkSize: CHUNK,
      chunkIds: [`${'a'.repeat(32)}0`],
    });
    assert.equal(badIds.body.error, 'INVALID_FIELD');
    const seed = await owner.handshake(srv.url, { ext: '.bin', chunkIds: [`${'a'.repeat(32)}0`] });
    assert.equal(seed.status, 403);
    assert.equal(seed.body.error, 'MISSING_FILE_ID');
    const badCommit = await commit(owner, srv.url, { uploadId: '../../etc', fileId: md5('x') });
    assert.equal(badCommit.status, 400);
    assert.equal(badCommit.body.error, 'INVALID_FIELD');
  });

  it('a commit naming a published MD5 links it only if the uploaded bytes hash to it', async () => {
    const data = randomBytesSeeded(CHUNK + 1, 1709);
    const c = cut(data, CHUNK);
    // Published by an ordinary upload first.
    await owner.handshake(srv.url, { fileId: c.fileId, ext: '.bin', chunkIds: c.chunkIds });
    for (let i = 0; i < c.chunks.length; i++)
      await owner.chunk(srv.url, c.fileId, c.chunkIds[i]!, c.chunks[i]!);
    assert.equal((await owner.call('GET', `${srv.url}/upload/${c.fileId}.bin`)).status, 200);
    // A stranger uploads other bytes and names that MD5: no link, nothing learnt.
    const other = randomBytesSeeded(CHUNK + 1, 1710);
    const opened = await open(stranger, srv.url, { ext: '.bin', size: other.length, chunkSize: CHUNK });
    const o = await sendAll(stranger, srv.url, opened.uploadId, other);
    const claim = await commit(stranger, srv.url, {
      uploadId: opened.uploadId,
      fileId: c.fileId,
      chunkIds: o.chunkIds,
    });
    assert.equal(claim.status, 422);
    assert.equal(claim.body.error, 'FILE_MD5_MISMATCH');
    assert.equal(claim.body.data, null);
    // The same bytes again: verified, then linked to the file already there.
    const same = await open(stranger, srv.url, { ext: '.bin', size: data.length, chunkSize: CHUNK });
    await sendAll(stranger, srv.url, same.uploadId, data);
    const ok = await commit(stranger, srv.url, {
      uploadId: same.uploadId,
      fileId: c.fileId,
      chunkIds: c.chunkIds,
    });
    assert.equal(ok.status, 200, JSON.stringify(ok.body));
    assert.deepEqual((await owner.call('GET', ok.body.data as string)).raw, data);
  });

  it('a continuation racing the abandon of its upload: a plan the abandon then drops, never one written after it', async () => {
    const data = randomBytesSeeded(2 * CHUNK + 5, 1711);
    const c = cut(data, CHUNK);
    const { uploadId } = await open(owner, srv.url, { ext: '.bin', size: data.length, chunkSize: CHUNK });
    const state = `${srv.url}/api/upload/${uploadId}`;
    // The continuation is held just after it read the session it continues; the DELETE is sent
    // then, and the continuation let go once the DELETE has asked for the upload's lock. Checked
    // apart from the write, the abandon ran in that gap and the continuation then wrote its plan
    // anew over the abandoned upload.
    const storage = srv.running.storage;
    const readPlan = storage.readPlan;
    const run = KeyedMutex.prototype.run;
    let entered!: () => void;
    const reading = new Promise<void>((resolve) => {
      entered = resolve;
    });
    let release!: () => void;
    const gate = new Promise<void>((resolve) => {
      release = resolve;
    });
    let asked!: () => void;
    const lockAsked = new Promise<void>((resolve) => {
      asked = resolve;
    });
    let armed = false;
    storage.readPlan = async (key, session) => {
      const plan = await readPlan.call(storage, key, session);
      if (key === uploadId) {
        storage.readPlan = readPlan;
        entered();
        await gate;
      }
      return plan;
    };
    KeyedMutex.prototype.run = function <T>(this: KeyedMutex, key: string, fn: () => Promise<T>) {
      if (armed && key === uploadId) asked();
      return run.call(this, key, fn) as Promise<T>;
    };
    try {
      const continuing = owner.call('POST', `${srv.url}/api/upload/deferred`, {
        ext: '.bin',
        size: data.length,
        chunkSize: CHUNK,
        uploadId,
        chunkIds: c.chunkIds,
      });
      await reading;
      armed = true;
      const abandoning = owner.call('DELETE', state);
      await lockAsked;
      release();
      const [continued, abandoned] = await Promise.all([continuing, abandoning]);
      assert.equal(abandoned.status, 200, JSON.stringify(abandoned.body));
      // The continuation came wholly before the abandon: its answer is the plan it replaced.
      assert.equal(continued.status, 200, JSON.stringify(continued.body));
      assert.deepEqual(continued.body.data, c.chunkIds);
    } finally {
      storage.readPlan = readPlan;
      KeyedMutex.prototype.run = run;
      release();
    }
    // And the abandon dropped it: nothing of the upload is left.
    assert.equal((await owner.call('GET', state)).status, 404);
    const gone = await owner.call('POST', `${srv.url}/api/upload/deferred`, {
      ext: '.bin',
      size: data.length,
      chunkSize: CHUNK,
      uploadId,
    });
    assert.equal(gone.status, 404);
    assert.equal(gone.body.error, 'UPLOAD_NOT_FOUND');
  });

  it('idle deferred uploads expire like any upload', async () => {
    const opened = await open(owner, srv.url, { ext: '.bin', size: 10, chunkSize: CHUNK });
    assert.equal((await owner.call('GET', `${srv.url}/api/upload/${opened.uploadId}`)).status, 200);
    await srv.running.service.sweep(60_000, Date.now() + 120_000);
    assert.equal((await owner.call('GET', `${srv.url}/api/upload/${opened.uploadId}`)).status, 404);
  });
});

describe('deferred uploads count against the caps', () => {
  let srv: TestServer;
  before(async () => {
    srv = await startTestServer({ maxUploadsPerClient: 2, maxIncompleteBytesPerClient: 3 * CHUNK + 4 * KiB });
  });
  after(() => srv.close());

  it('uploads per client: ordinary and deferred together; the quota of held bytes', async () => {
    const data = randomBytesSeeded(4 * CHUNK, 1711);
    const c = cut(data, CHUNK);
    assert.equal(
      (await owner.handshake(srv.url, { fileId: c.fileId, ext: '.bin', chunkIds: c.chunkIds })).status,
      200,
    );
    const opened = await open(owner, srv.url, { ext: '.bin', size: data.length, chunkSize: CHUNK });
    const third = await owner.call('POST', `${srv.url}/api/upload/deferred`, {
      ext: '.bin',
      size: 10,
      chunkSize: CHUNK,
    });
    assert.equal(third.status, 429);
    assert.equal(third.body.error, 'TOO_MANY_UPLOADS');
    // Held bytes (with the plans' few hundred bytes): three chunks fit the client's quota, the fourth does not.
    for (let i = 0; i < 3; i++) {
      const res = await owner.chunk(srv.url, opened.uploadId, c.chunkIds[i]!, c.chunks[i]!);
      assert.equal(res.status, 200, JSON.stringify(res.body));
    }
    const fourth = await owner.chunk(srv.url, opened.uploadId, c.chunkIds[3]!, c.chunks[3]!);
    assert.equal(fourth.status, 507);
    assert.equal(fourth.body.error, 'QUOTA_EXCEEDED');
    // Another client is not counted with this one.
    await open(stranger, srv.url, { ext: '.bin', size: 10, chunkSize: CHUNK });
  });
});

describe('deferred upload under instant upload proof', () => {
  let srv: TestServer;
  before(async () => {
    srv = await startTestServer({ instantUpload: 'proof' });
  });
  after(() => srv.close());

  it('the commit answers the capability link, and never for bytes that are not the MD5', async () => {
    const data = randomBytesSeeded(2 * CHUNK + 3, 1712);
    const opened = await open(owner, srv.url, { ext: '.bin', size: data.length, chunkSize: CHUNK });
    const c = await sendAll(owner, srv.url, opened.uploadId, data);
    const done = await commit(owner, srv.url, {
      uploadId: opened.uploadId,
      fileId: c.fileId,
      chunkIds: c.chunkIds,
    });
    assert.equal(done.status, 200, JSON.stringify(done.body));
    assert.equal(done.body.data, `${srv.url}/upload/${c.fileId}-${sha256(data).slice(0, 32)}.bin`);
    assert.deepEqual((await owner.call('GET', done.body.data as string)).raw, data);
    assert.equal(
      (await owner.call('GET', `${srv.url}/upload/${c.fileId}.bin`)).status,
      404,
      'no MD5 link under proof',
    );
    // A stranger naming the published MD5 over other bytes gets no link.
    const other = randomBytesSeeded(CHUNK, 1713);
    const theirs = await open(stranger, srv.url, { ext: '.bin', size: other.length, chunkSize: CHUNK });
    const o = await sendAll(stranger, srv.url, theirs.uploadId, other);
    const claim = await commit(stranger, srv.url, {
      uploadId: theirs.uploadId,
      fileId: c.fileId,
      chunkIds: o.chunkIds,
    });
    assert.equal(claim.body.error, 'FILE_MD5_MISMATCH');
    assert.equal(claim.body.data, null);
  });

  it('uncached, our client proves it holds a published file once hashed: not sent whole', async () => {
    const data = randomBytesSeeded(3 * MiB + 17, 1714);
    const c = cut(data, MiB);
    await owner.handshake(srv.url, { fileId: c.fileId, ext: '.bin', chunkIds: c.chunkIds });
    for (let i = 0; i < c.chunks.length; i++)
      await owner.chunk(srv.url, c.fileId, c.chunkIds[i]!, c.chunks[i]!);
    // Chunks wait until the proof was answered: the one in flight then is all that can be sent.
    const log: string[] = [];
    const r = await upload(gatedSource(data, data.length, Promise.resolve()), {
      server: srv.url,
      hashCache: false,
      chunkSize: MiB,
      concurrency: 1,
      deferred: true,
      fetch: chunksAfterAnswerOf('/api/upload/proof', recordingFetch(log)),
    });
    assert.equal(r.instant, true);
    assert.equal(r.url, `${srv.url}/upload/${c.fileId}-${sha256(data).slice(0, 32)}.bin`);
    assert.ok(!log.includes('POST /api/upload/commit'), log.join());
    assert.ok(r.bytesSent <= MiB, `sent ${r.bytesSent}`);
  });
});

/** A fetch that records the path of every upload API request it makes (method and path). */
function recordingFetch(log: string[], intercept?: (url: URL) => Response | undefined): typeof fetch {
  return async (input, init) => {
    const url = new URL(String(input instanceof Request ? input.url : input));
    log.push(`${init?.method ?? 'GET'} ${url.pathname}`);
    return intercept?.(url) ?? fetch(input, init);
  };
}

/**
 * A file whose bytes past `gateAt` are read only once `gate` resolves: its hashing cannot end
 * before then, so an upload that finishes sent chunks while the whole-file MD5 was not known.
 */
/**
 * A transport whose chunk requests wait until the answer to `path` has been read whole (the
 * client then knows it before any chunk's reply).
 */
function chunksAfterAnswerOf(path: string, base: typeof fetch): typeof fetch {
  let answered!: () => void;
  const read = new Promise<void>((resolve) => {
    answered = resolve;
  });
  return async (input, init) => {
    if (String(input).includes('/api/upload?')) await read;
    const res = await base(input, init);
    if (!String(input).endsWith(path)) return res;
    const text = await res.text();
    answered();
    return new Response(text, { status: res.status, headers: res.headers });
  };
}

function gatedSource(data: Buffer, gateAt: number, gate: Promise<void>): ByteSource {
  return {
    name: 'gated.bin',
    size: data.length,
    cacheKey: undefined,
    async *stream() {
      for (let at = 0; at < gateAt; at += 64 * KiB) yield data.subarray(at, Math.min(gateAt, at + 64 * KiB));
      await gate;
      for (let at = gateAt; at < data.length; at += 64 * KiB) yield data.subarray(at, at + 64 * KiB);
    },
    slice: async (start, end) => data.subarray(start, end),
  };
}

describe('the client uses the extension', () => {
  let srv: TestServer;
  let work: string;
  before(async () => {
    srv = await startTestServer({ instantUpload: 'open' });
    work = await tempDir('rt-deferred-');
  });
  after(async () => {
    await srv.close();
    await rm(work, { recursive: true, force: true });
  });

  /** Sends a file gated until a chunk was accepted; resolves with the result and the requests. */
  async function gatedUpload(data: Buffer, chunkSize: number, gateAt: number) {
    const log: string[] = [];
    let open!: () => void;
    let refuse!: (err: Error) => void;
    const gate = new Promise<void>((resolve, reject) => {
      open = resolve;
      refuse = reject;
    });
    // A guard, not a measure: a client that waits for the whole hash would wait here forever.
    const guard = setTimeout(() => refuse(new Error('no chunk was sent before the file was hashed')), 60_000);
    const base = recordingFetch(log);
    const fetchImpl: typeof fetch = async (input, init) => {
      const res = await base(input, init);
      if (String(input).includes('/api/upload?') && res.ok) open();
      return res;
    };
    try {
      const r = await upload(gatedSource(data, gateAt, gate), {
        server: srv.url,
        fetch: fetchImpl,
        hashCache: false,
        chunkSize,
        deferred: true,
      });
      return { r, log };
    } finally {
      clearTimeout(guard);
    }
  }

  it('one thread: chunks go before the file is hashed, then the commit publishes it', async () => {
    const data = randomBytesSeeded(MiB + 77, 1720);
    const { r, log } = await gatedUpload(data, CHUNK, 4 * CHUNK);
    assert.equal(r.fileId, md5(data));
    assert.equal(r.url, `${srv.url}/upload/${md5(data)}.bin`);
    assert.ok(log.includes('POST /api/upload/deferred'), log.join());
    assert.ok(log.includes('POST /api/upload/commit'));
    // Once hashed, the ordinary handshake asked for 秒传; not published, its session was deleted.
    assert.ok(log.indexOf('POST /api/upload/handshake') < log.indexOf('POST /api/upload/commit'));
    assert.ok(log.includes(`DELETE /api/upload/${md5(data)}`), log.join());
    assert.deepEqual(Buffer.from(await (await fetch(r.url)).arrayBuffer()), data);
  });

  it('two threads (over 16 MiB): the worker tells each chunk id as it hashes it', async () => {
    const data = randomBytesSeeded(17 * MiB + 5, 1721);
    const { r, log } = await gatedUpload(data, MiB, 4 * MiB);
    assert.equal(r.fileId, md5(data));
    assert.ok(log.includes('POST /api/upload/commit'), log.join());
    assert.deepEqual(Buffer.from(await (await fetch(r.url)).arrayBuffer()), data);
  });

  it('hashes cached: the ordinary handshake, instant at once (秒传)', async () => {
    const path = join(work, 'cached.bin');
    const sum = await writeRandomFile(path, 3 * MiB + 1, 1722);
    const hashCache = new FileHashCache(join(work, 'cache'));
    const first: string[] = [];
    const r1 = await upload(path, {
      server: srv.url,
      hashCache,
      chunkSize: MiB,
      deferred: true,
      fetch: recordingFetch(first),
    });
    assert.ok(first.includes('POST /api/upload/commit'), first.join());
    assert.equal(r1.fileId, sum);
    const second: string[] = [];
    const r2 = await upload(path, {
      server: srv.url,
      hashCache,
      chunkSize: MiB,
      deferred: true,
      fetch: recordingFetch(second),
    });
    assert.deepEqual(
      second.filter((l) => l.startsWith('POST')),
      ['POST /api/upload/handshake'],
    );
    assert.equal(r2.instant, true);
    assert.equal(r2.hashCached, true);
    assert.equal(r2.url, r1.url);
  });

  it('uncached, a file the server has (instant upload open) is not sent whole: its link once hashed', async () => {
    const data = randomBytesSeeded(3 * MiB + 5, 1725);
    const c = cut(data, MiB);
    await owner.handshake(srv.url, { fileId: c.fileId, ext: '.bin', chunkIds: c.chunkIds });
    for (let i = 0; i < c.chunks.length; i++)
      await owner.chunk(srv.url, c.fileId, c.chunkIds[i]!, c.chunks[i]!);
    const log: string[] = [];
    // The chunks wait until the link was asked for: none of them can have been sent before.
    const r = await upload(gatedSource(data, data.length, Promise.resolve()), {
      server: srv.url,
      hashCache: false,
      chunkSize: MiB,
      concurrency: 1,
      deferred: true,
      fetch: chunksAfterAnswerOf('/api/upload/handshake', recordingFetch(log)),
    });
    assert.equal(r.instant, true);
    assert.equal(r.url, `${srv.url}/upload/${c.fileId}.bin`);
    assert.ok(!log.includes('POST /api/upload/commit'), log.join());
    assert.ok(r.bytesSent <= MiB, `sent ${r.bytesSent}: at most the one chunk in flight`);
  });

  it('interrupted once hashed, it is listed by findPreviousUploads and resumed by its id; terminateOnAbort deletes it', async () => {
    const path = join(work, 'resume.bin');
    const size = 12 * MiB + 1;
    const sum = await writeRandomFile(path, size, 1726);
    const hashCache = new FileHashCache(join(work, 'resume-cache'));
    const key = `${(await fileSource(path)).cacheKey}|${MiB}`;
    const proxy = await startProxy(srv.url, { rate: 0 });
    proxy.options.rate = 2 * MiB;
    const options = { server: proxy.url, hashCache, chunkSize: MiB, concurrency: 1, deferred: true };
    /** Aborts once the file is hashed (its hashes cached with the upload's id) and a chunk is held. */
    const interrupted = async (extra: { terminateOnAbort?: boolean } = {}) => {
      const ctl = new AbortController();
      const running = upload(path, { ...options, ...extra, signal: ctl.signal });
      for (let i = 0; i < 600 && !ctl.signal.aborted; i++) {
        const cached = await hashCache.get(key);
        if (cached?.uploadId && srv.running.service.stats().heldBytes > MiB) ctl.abort();
        else await new Promise((resolve) => setTimeout(resolve, 50));
      }
      await assert.rejects(running, (e: unknown) => e instanceof TransferError && e.code === 'ABORTED');
      return (await hashCache.get(key))?.uploadId;
    };
    try {
      const uploadId = await interrupted();
      assert.match(uploadId ?? '', /^[0-9a-f]{32}$/);
      const [found] = await findPreviousUploads(path, { server: srv.url, hashCache, chunkSize: MiB });
      assert.equal(found?.uploadId, uploadId);
      assert.equal(found?.status, 'uploading');
      assert.ok((found?.bytesHeld ?? 0) >= MiB);
      const r = await upload(path, { ...options, server: srv.url });
      assert.equal(r.hashCached, true, 'not hashed again');
      assert.ok(r.bytesSent <= size - MiB, `resumed: sent ${r.bytesSent} of ${size}`);
      assert.equal(md5(Buffer.from(await (await fetch(r.url)).arrayBuffer())), sum);
      // The upload is published: the cache no longer names a deferred upload, the next is instant.
      assert.equal((await hashCache.get(key))?.uploadId, undefined);
      const again = await upload(path, { ...options, server: srv.url });
      assert.equal(again.instant, true);

      const other = join(work, 'terminate.bin');
      await writeRandomFile(other, size, 1727);
      const otherKey = `${(await fileSource(other)).cacheKey}|${MiB}`;
      const ctl = new AbortController();
      const running = upload(other, { ...options, terminateOnAbort: true, signal: ctl.signal });
      let id: string | undefined;
      for (let i = 0; i < 600 && !ctl.signal.aborted; i++) {
        id = (await hashCache.get(otherKey))?.uploadId;
        if (id && srv.running.service.stats().heldBytes > MiB) ctl.abort();
        else await new Promise((resolve) => setTimeout(resolve, 50));
      }
      await assert.rejects(running, (e: unknown) => e instanceof TransferError && e.code === 'ABORTED');
      // Asked as the client that sent it (its own session: 200 while it exists).
      const state = await fetch(`${srv.url}/api/upload/${id}`);
      assert.equal(state.status, 404, 'deleted');
      await state.arrayBuffer();
    } finally {
      await proxy.close();
    }
  });

  it('a server that refuses the deferred handshake gets the ordinary upload', async () => {
    const path = join(work, 'refused.bin');
    const sum = await writeRandomFile(path, 2 * MiB + 3, 1723);
    const log: string[] = [];
    const refusing = recordingFetch(log, (url) =>
      url.pathname === '/api/upload/deferred'
        ? Response.json({ code: 404, msg: 'no', data: null, error: 'NOT_FOUND' }, { status: 404 })
        : undefined,
    );
    const r = await upload(path, {
      server: srv.url,
      hashCache: false,
      chunkSize: MiB,
      deferred: true,
      fetch: refusing,
    });
    assert.equal(r.fileId, sum);
    assert.ok(log.includes('POST /api/upload/deferred'));
    assert.ok(log.includes('POST /api/upload/handshake'), log.join());
    assert.ok(!log.includes('POST /api/upload/commit'));
    assert.equal(md5(Buffer.from(await (await fetch(r.url)).arrayBuffer())), sum);
  });

  it('the CLI uploads with the extension when asked (--deferred), and without by default', async () => {
    const path = join(work, 'cli.bin');
    const sum = await writeRandomFile(path, 64 * MiB + 9, 1724);
    const paths: string[] = [];
    const proxy = await startThrottleProxy(srv.url, (req) => {
      paths.push(`${req.method} ${(req.url ?? '').split('?')[0]}`);
      return 0;
    });
    try {
      const run = await runCli(work, [
        'upload',
        '-s',
        proxy.url,
        '--chunk-size',
        '8MiB',
        '--deferred',
        '--json',
        path,
      ]).done;
      assert.equal(run.code, 0, run.stderr);
      const j = JSON.parse(run.stdout) as { url: string; instant: boolean };
      assert.equal(j.url, `${proxy.url}/upload/${sum}.bin`);
      assert.equal(j.instant, false);
      assert.ok(paths.includes('POST /api/upload/deferred'), paths.join());
      assert.ok(paths.includes('POST /api/upload/commit'));
      assert.equal(md5(Buffer.from(await (await fetch(j.url)).arrayBuffer())), sum);
      // Without --deferred: hashed first, the ordinary upload.
      const small = join(work, 'cli-small.bin');
      const smallSum = await writeRandomFile(small, 2 * MiB, 1725);
      paths.length = 0;
      const run2 = await runCli(work, ['upload', '-s', proxy.url, '--chunk-size', '1MiB', '--json', small])
        .done;
      assert.equal(run2.code, 0, run2.stderr);
      assert.equal((JSON.parse(run2.stdout) as { url: string }).url, `${proxy.url}/upload/${smallSum}.bin`);
      assert.ok(!paths.includes('POST /api/upload/deferred'), paths.join());
    } finally {
      await proxy.close();
    }
  });
});

describe('deferred upload under access control', () => {
  const SECRET = 'a-test-secret-of-at-least-32-bytes-long!';
  let srv: TestServer;
  let work: string;
  before(async () => {
    srv = await startTestServer({ auth: 'signed', authSecret: SECRET });
    work = await tempDir('rt-deferred-auth-');
  });
  after(async () => {
    await srv.close();
    await rm(work, { recursive: true, force: true });
  });

  it('a token for any file uploads deferred; one limited to a fileId falls back to the ordinary upload', async () => {
    const path = join(work, 'a.bin');
    const sum = await writeRandomFile(path, 2 * MiB + 1, 1730);
    const exp = Math.floor(Date.now() / 1000) + 3600;
    const any: string[] = [];
    const r1 = await upload(path, {
      server: srv.url,
      hashCache: false,
      chunkSize: MiB,
      deferred: true,
      headers: { authorization: `Bearer ${signUploadToken(SECRET, { exp })}` },
      fetch: recordingFetch(any),
    });
    assert.equal(r1.fileId, sum);
    assert.ok(any.includes('POST /api/upload/commit'), any.join());

    const other = join(work, 'b.bin');
    const sum2 = await writeRandomFile(other, 2 * MiB + 2, 1731);
    const scoped: string[] = [];
    const r2 = await upload(other, {
      server: srv.url,
      hashCache: false,
      chunkSize: MiB,
      deferred: true,
      headers: { authorization: `Bearer ${signUploadToken(SECRET, { exp, fid: sum2 })}` },
      fetch: recordingFetch(scoped),
    });
    assert.equal(r2.fileId, sum2);
    assert.ok(scoped.includes('POST /api/upload/deferred'), scoped.join());
    assert.ok(scoped.includes('POST /api/upload/handshake'), 'the ordinary upload took over');
    assert.ok(!scoped.includes('POST /api/upload/commit'));
  });
});

const ep = s3Endpoint();

describe('deferred upload over S3 (Ceph RGW)', {
  skip: typeof ep === 'string' ? ep : false,
  timeout: 300_000,
}, () => {
  const prefix = `t-deferred-${Math.random().toString(16).slice(2, 10)}/`;
  let srv: TestServer;
  let work: string;
  before(async () => {
    if (typeof ep === 'string') throw new Error(ep);
    srv = await startTestServer({
      logLevel: 'error',
      instantUpload: 'open',
      storage: { kind: 's3', ...ep, prefix, forcePathStyle: true },
    });
    work = await tempDir('rt-deferred-s3-');
  });
  after(async () => {
    await srv.close();
    await rm(work, { recursive: true, force: true });
    if (typeof ep === 'string') return;
    const cleaner = s3Storage(ep, prefix);
    await emptyPrefix(cleaner);
    await cleaner.close();
  });

  it('the commit publishes what the bucket verified; a wrong fileId publishes nothing', async () => {
    // Small chunks (one PutObject), and the part path's layout with the SHA-256 declared at the
    // commit: a deferred upload's chunks are chunk objects even then (part-uploads.ts partLayout).
    const layouts = [
      { size: 2 * CHUNK + 11, chunkSize: CHUNK, declare: false },
      { size: 11 * MiB + 5, chunkSize: 5 * MiB, declare: true },
    ];
    for (const [n, { size, chunkSize, declare }] of layouts.entries()) {
      const data = randomBytesSeeded(size, 1740 + n);
      const declared = declare ? { sha256: sha256(data) } : {};
      const opened = await open(owner, srv.url, { ext: '.bin', size, chunkSize });
      const c = await sendAll(owner, srv.url, opened.uploadId, data, [], chunkSize);
      const wrong = await commit(owner, srv.url, {
        uploadId: opened.uploadId,
        fileId: md5('x'),
        chunkIds: c.chunkIds,
        ...declared,
      });
      assert.equal(wrong.status, 422, JSON.stringify(wrong.body));
      assert.equal(wrong.body.error, 'FILE_MD5_MISMATCH');
      assert.equal((await owner.call('GET', `${srv.url}/upload/${md5('x')}.bin`)).status, 404);
      assert.equal((await owner.call('GET', `${srv.url}/upload/${c.fileId}.bin`)).status, 404);
      const again = await open(owner, srv.url, { ext: '.bin', size, chunkSize });
      await sendAll(owner, srv.url, again.uploadId, data, [], chunkSize);
      const done = await commit(owner, srv.url, {
        uploadId: again.uploadId,
        fileId: c.fileId,
        chunkIds: c.chunkIds,
        ...declared,
      });
      assert.equal(done.status, 200, JSON.stringify(done.body));
      assert.equal(done.body.data, `${srv.url}/upload/${c.fileId}.bin`);
      assert.ok((await owner.call('GET', done.body.data as string)).raw.equals(data));
    }
  });

  it('the library: 5 MiB chunks (server-side part copies), the SHA-256 declared at the commit', async () => {
    const path = join(work, 'big.bin');
    const sum = await writeRandomFile(path, 11 * MiB + 3, 1741);
    const log: string[] = [];
    const r = await upload(path, {
      server: srv.url,
      hashCache: false,
      chunkSize: 5 * MiB,
      deferred: true,
      fetch: recordingFetch(log),
    });
    assert.equal(r.fileId, sum);
    assert.ok(log.includes('POST /api/upload/commit'), log.join());
    assert.equal(md5(Buffer.from(await (await fetch(r.url)).arrayBuffer())), sum);
  });
});
