/**
 * Chunk checksums (issue 17, PROTOCOL.md §Chunk checksums): a deferred upload that negotiated
 * xxh64 sends each chunk by its index and checksum; the server computes the chunk's MD5, refuses
 * bytes that do not make the checksum, and answers the id the commit names. Real server on port 0,
 * real HTTP, real files; requesters told apart by their loopback source address.
 */
import assert from 'node:assert/strict';
import { rm } from 'node:fs/promises';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { xxhash64 } from 'hash-wasm';
import { fileSource } from '../src/client/node/file-source.js';
import { FileHashCache, findPreviousUploads, TransferError, upload } from '../src/client/node/index.js';
import { cut, md5, randomBytesSeeded, writeRandomFile } from './helpers/bytes.js';
import { startProxy } from './helpers/flaky-proxy.js';
import { from, type Requester } from './helpers/requester.js';
import { startTestServer, type TestServer, tempDir } from './helpers/server.js';

const KiB = 1024;
const MiB = 1024 * KiB;
const CHUNK = 64 * KiB;
const owner = from('127.0.0.2');
const stranger = from('127.0.0.3');

async function checksumOf(bytes: Uint8Array): Promise<string> {
  return `xxh64:${await xxhash64(bytes)}`;
}

/** Opens a deferred upload of `size` bytes in CHUNK chunks, asking for `checksum`. */
async function open(who: Requester, base: string, size: number, checksum: unknown = 'xxh64') {
  const res = await who.call('POST', `${base}/api/upload/deferred`, {
    ext: '.bin',
    size,
    chunkSize: CHUNK,
    checksum,
  });
  return { status: res.status, body: res.body as Record<string, unknown> };
}

/** A raw chunk named by its index and checksum. */
function sendByChecksum(
  who: Requester,
  base: string,
  uploadId: string,
  index: number,
  bytes: Uint8Array,
  checksum: string,
) {
  const query = `fileId=${uploadId}&chunkIndex=${index}&checksum=${checksum}`;
  return who.call('POST', `${base}/api/upload?${query}`, bytes, { 'accept-language': 'en' });
}

/** The requester's state of an upload: bytes held, ids held. */
async function held(who: Requester, base: string, uploadId: string) {
  const res = await who.call('GET', `${base}/api/upload/${uploadId}`);
  assert.equal(res.status, 200, JSON.stringify(res.body));
  return res.body.data as { bytesHeld: number; held: string[] };
}

/** A multipart chunk whose parts come in the order given. */
function multipart(base: string, parts: [string, string | Uint8Array][]) {
  const form = new FormData();
  for (const [name, value] of parts) {
    if (typeof value === 'string') form.append(name, value);
    else form.append(name, new Blob([new Uint8Array(value)]), 'blob');
  }
  return fetch(`${base}/api/upload`, {
    method: 'POST',
    body: form,
    headers: { 'accept-language': 'en' },
  }).then(async (res) => ({ status: res.status, body: (await res.json()) as Record<string, unknown> }));
}

describe('chunk checksums: the server', () => {
  let srv: TestServer;
  before(async () => {
    srv = await startTestServer({ instantUpload: 'open' });
  });
  after(() => srv.close());

  it('/api/version offers the extension and its algorithms', async () => {
    const res = await owner.call('GET', `${srv.url}/api/version`);
    const data = res.body.data as { extensions: string[]; chunkChecksums: string[] };
    assert.ok(data.extensions.includes('chunk-checksum'));
    assert.deepEqual(data.chunkChecksums, ['xxh64']);
  });

  it('the deferred handshake negotiates it: taken and answered, an unknown algorithm refused', async () => {
    const taken = await open(owner, srv.url, 3 * CHUNK);
    assert.equal(taken.status, 200);
    assert.equal(taken.body.checksum, 'xxh64');
    const plain = await owner.call('POST', `${srv.url}/api/upload/deferred`, {
      ext: '.bin',
      size: CHUNK,
      chunkSize: CHUNK,
    });
    assert.equal(plain.status, 200);
    assert.equal((plain.body as Record<string, unknown>).checksum, undefined, 'not asked, not answered');
    const unknown = await open(owner, srv.url, CHUNK, 'crc32c');
    assert.equal(unknown.status, 400);
    assert.equal(unknown.body.error, 'INVALID_FIELD');
    assert.equal(unknown.body.uploadId, undefined, 'nothing opened');
  });

  it('chunks by index and checksum, in any order: the ids answered make the commit, the file byte-exact', async () => {
    const data = randomBytesSeeded(3 * CHUNK + 123, 1901);
    const c = cut(data, CHUNK);
    const opened = await open(owner, srv.url, data.length);
    const uploadId = opened.body.uploadId as string;
    const ids: string[] = [];
    for (const i of [2, 0, 3, 1]) {
      const res = await sendByChecksum(
        owner,
        srv.url,
        uploadId,
        i,
        c.chunks[i]!,
        await checksumOf(c.chunks[i]!),
      );
      assert.equal(res.status, 200, JSON.stringify(res.body));
      // The server's own MD5 of the bytes, and the index: the seed's id form.
      const { chunkId } = res.body as { chunkId?: string };
      assert.equal(chunkId, `${md5(c.chunks[i]!)}${i}`);
      assert.equal(res.body.url, undefined, 'only the commit assembles');
      ids[i] = chunkId ?? '';
    }
    assert.deepEqual(ids, c.chunkIds);
    const done = await owner.call('POST', `${srv.url}/api/upload/commit`, {
      uploadId,
      fileId: c.fileId,
      chunkIds: ids,
    });
    assert.equal(done.status, 200, JSON.stringify(done.body));
    assert.equal(done.body.data, `${srv.url}/upload/${c.fileId}.bin`);
    assert.deepEqual(Buffer.from(await (await fetch(done.body.data as string)).arrayBuffer()), data);
  });

  it('a corrupt chunk is refused (422 CHUNK_CHECKSUM_MISMATCH) and nothing of it is kept; sent again, taken', async () => {
    const data = randomBytesSeeded(2 * CHUNK, 1902);
    const c = cut(data, CHUNK);
    const uploadId = (await open(owner, srv.url, data.length)).body.uploadId as string;
    const corrupt = Buffer.from(c.chunks[1]!);
    corrupt[1000] = corrupt[1000]! ^ 0x20;
    const refused = await sendByChecksum(
      owner,
      srv.url,
      uploadId,
      1,
      corrupt,
      await checksumOf(c.chunks[1]!),
    );
    assert.equal(refused.status, 422);
    assert.equal(refused.body.error, 'CHUNK_CHECKSUM_MISMATCH');
    assert.deepEqual(await held(owner, srv.url, uploadId), {
      ...(await held(owner, srv.url, uploadId)),
      bytesHeld: 0,
    });
    assert.equal((await held(owner, srv.url, uploadId)).held.length, 0);
    for (const i of [0, 1]) {
      const res = await sendByChecksum(
        owner,
        srv.url,
        uploadId,
        i,
        c.chunks[i]!,
        await checksumOf(c.chunks[i]!),
      );
      assert.equal(res.status, 200, JSON.stringify(res.body));
    }
    assert.equal((await held(owner, srv.url, uploadId)).bytesHeld, data.length);
    const done = await owner.call('POST', `${srv.url}/api/upload/commit`, {
      uploadId,
      fileId: c.fileId,
      chunkIds: c.chunkIds,
    });
    assert.equal(done.status, 200, JSON.stringify(done.body));
    assert.deepEqual(Buffer.from(await (await fetch(done.body.data as string)).arrayBuffer()), data);
  });

  it('multipart: chunkIndex and checksum before the file part are taken; after it, 400 and nothing kept', async () => {
    const data = randomBytesSeeded(2 * CHUNK, 1903);
    const c = cut(data, CHUNK);
    // fetch sends from 127.0.0.1: another requester than `owner`, with its own session.
    const me = from('127.0.0.1');
    const uploadId = (await open(me, srv.url, data.length)).body.uploadId as string;
    const sum = await checksumOf(c.chunks[0]!);
    const late = await multipart(srv.url, [
      ['fileId', uploadId],
      ['file', c.chunks[0]!],
      ['chunkIndex', '0'],
      ['checksum', sum],
    ]);
    assert.equal(late.status, 400);
    assert.equal(late.body.error, 'INVALID_FIELD');
    assert.equal((await held(me, srv.url, uploadId)).bytesHeld, 0);
    const first = await multipart(srv.url, [
      ['fileId', uploadId],
      ['chunkIndex', '0'],
      ['checksum', sum],
      ['file', c.chunks[0]!],
    ]);
    assert.equal(first.status, 200, JSON.stringify(first.body));
    assert.equal(first.body.chunkId, c.chunkIds[0]);
    assert.equal((await held(me, srv.url, uploadId)).bytesHeld, CHUNK);
  });

  it('malformed references, places outside the layout and strangers are refused with clear errors', async () => {
    const data = randomBytesSeeded(2 * CHUNK + 10, 1904);
    const c = cut(data, CHUNK);
    const uploadId = (await open(owner, srv.url, data.length)).body.uploadId as string;
    const sum = await checksumOf(c.chunks[0]!);
    const call = (query: string, bytes: Uint8Array = c.chunks[0]!, who = owner) =>
      who.call('POST', `${srv.url}/api/upload?fileId=${uploadId}&${query}`, bytes, {
        'accept-language': 'en',
      });
    const cases: [string, number, string][] = [
      [`chunkId=${c.chunkIds[0]}&chunkIndex=0&checksum=${sum}`, 400, 'INVALID_FIELD'],
      ['chunkIndex=0', 400, 'INVALID_FIELD'],
      [`checksum=${sum}`, 400, 'INVALID_FIELD'],
      ['chunkIndex=0&checksum=xxh64:zz', 400, 'INVALID_FIELD'],
      ['chunkIndex=0&checksum=xxh64:0123', 400, 'INVALID_FIELD'],
      [`chunkIndex=0&checksum=sha1:${'0'.repeat(40)}`, 400, 'INVALID_FIELD'],
      [`chunkIndex=-1&checksum=${sum}`, 400, 'INVALID_FIELD'],
      [`chunkIndex=01&checksum=${sum}`, 400, 'INVALID_FIELD'],
      // Chunk 3 is not in a layout of 3 chunks.
      [`chunkIndex=3&checksum=${sum}`, 409, 'CHUNK_NOT_IN_PLAN'],
    ];
    for (const [query, status, code] of cases) {
      const res = await call(query);
      assert.equal(res.status, status, `${query}: ${JSON.stringify(res.body)}`);
      assert.equal(res.body.error, code, query);
    }
    // The last chunk is 10 bytes by the layout: a whole chunk there is refused as it passes the
    // place's end (written in place), and a short one for a whole place once it ended.
    const long = await call(`chunkIndex=2&checksum=${sum}`);
    assert.equal(long.status, 413);
    assert.equal(long.body.error, 'CHUNK_TOO_LARGE');
    const short = await call(`chunkIndex=0&checksum=${await checksumOf(c.chunks[2]!)}`, c.chunks[2]!);
    assert.equal(short.status, 422);
    assert.equal(short.body.error, 'SIZE_MISMATCH');
    const theirs = await call(`chunkIndex=0&checksum=${sum}`, c.chunks[0]!, stranger);
    assert.equal(theirs.status, 404);
    assert.equal(theirs.body.error, 'UPLOAD_NOT_FOUND');
    assert.equal((await held(owner, srv.url, uploadId)).bytesHeld, 0, 'nothing kept of any of them');
  });
});

/** A transport that logs each request's method, path and query names. */
function recordingFetch(log: string[], base: typeof fetch = fetch): typeof fetch {
  return async (input, init) => {
    const url = new URL(String(input));
    log.push(`${init?.method ?? 'GET'} ${url.pathname}?${[...url.searchParams.keys()].join('&')}`);
    return base(input, init);
  };
}

describe('chunk checksums: the client', () => {
  let srv: TestServer;
  let work: string;
  before(async () => {
    srv = await startTestServer({ instantUpload: 'open' });
    work = await tempDir('rt-checksum-');
  });
  after(async () => {
    await srv.close();
    await rm(work, { recursive: true, force: true });
  });

  it('a deferred upload sends chunks by checksum, commits the ids answered, and the next upload is instant', async () => {
    const path = join(work, 'big.bin');
    // Over 16 MiB: the two-thread hasher, which then computes no chunk MD5 at all.
    const sum = await writeRandomFile(path, 17 * MiB + 3, 1911);
    const hashCache = new FileHashCache(join(work, 'cache'));
    const log: string[] = [];
    const options = { server: srv.url, hashCache, chunkSize: MiB, deferred: true };
    const r = await upload(path, { ...options, fetch: recordingFetch(log) });
    assert.equal(r.fileId, sum);
    assert.equal(r.instant, false);
    const chunks = log.filter((l) => l.startsWith('POST /api/upload?'));
    assert.equal(chunks.length, 18);
    for (const l of chunks) assert.equal(l, 'POST /api/upload?fileId&chunkIndex&checksum');
    assert.ok(log.includes('POST /api/upload/commit?'), log.join());
    assert.equal(md5(Buffer.from(await (await fetch(r.url)).arrayBuffer())), sum);
    // The ids the server answered are cached: the next upload is the ordinary handshake, instant.
    const key = `${(await fileSource(path)).cacheKey}|${MiB}`;
    assert.equal((await hashCache.get(key))?.chunkIds.length, 18);
    const again = await upload(path, options);
    assert.equal(again.instant, true);
    assert.equal(again.hashCached, true);
    assert.equal(again.bytesSent, 0);
  });

  it('a chunk corrupted on the way is refused and sent again: the upload completes byte-exact', async () => {
    const data = randomBytesSeeded(3 * MiB + 7, 1912);
    const path = join(work, 'corrupt.bin');
    await (await import('node:fs/promises')).writeFile(path, data);
    let corrupted = 0;
    const answers: number[] = [];
    const corrupting: typeof fetch = async (input, init) => {
      const url = String(input);
      if (url.includes('chunkIndex=1&') && corrupted === 0 && init?.body) {
        corrupted++;
        const bytes = new Uint8Array(await new Response(init.body as BodyInit).arrayBuffer());
        bytes[5] = bytes[5]! ^ 1;
        const res = await fetch(input, { ...init, body: bytes });
        answers.push(res.status);
        return res;
      }
      return fetch(input, init);
    };
    const r = await upload(path, {
      server: srv.url,
      hashCache: false,
      chunkSize: MiB,
      deferred: true,
      fetch: corrupting,
    });
    assert.equal(corrupted, 1);
    assert.deepEqual(answers, [422]);
    assert.equal(r.fileId, md5(data));
    assert.deepEqual(Buffer.from(await (await fetch(r.url)).arrayBuffer()), data);
  });

  it('a server that does not take the checksum gets the chunks by their MD5 ids', async () => {
    const path = join(work, 'old-server.bin');
    const sum = await writeRandomFile(path, 2 * MiB + 1, 1913);
    const log: string[] = [];
    // An older server: /api/version without 'chunk-checksum', and a deferred handshake that
    // ignores the field (it answers no checksum).
    const older: typeof fetch = async (input, init) => {
      const res = await fetch(input, init);
      if (!String(input).endsWith('/api/version')) return res;
      const body = (await res.json()) as { data: { extensions: string[]; chunkChecksums?: string[] } };
      body.data.extensions = body.data.extensions.filter((e) => e !== 'chunk-checksum');
      delete body.data.chunkChecksums;
      return Response.json(body);
    };
    const r = await upload(path, {
      server: srv.url,
      hashCache: false,
      chunkSize: MiB,
      deferred: true,
      fetch: recordingFetch(log, older),
    });
    assert.equal(r.fileId, sum);
    const chunks = log.filter((l) => l.startsWith('POST /api/upload?'));
    assert.equal(chunks.length, 3);
    for (const l of chunks) assert.equal(l, 'POST /api/upload?fileId&chunkId');
    // And chunkChecksums: false asks for none of a server that takes them.
    const path2 = join(work, 'opt-out.bin');
    await writeRandomFile(path2, MiB + 1, 1914);
    const log2: string[] = [];
    await upload(path2, {
      server: srv.url,
      hashCache: false,
      chunkSize: MiB,
      deferred: true,
      chunkChecksums: false,
      fetch: recordingFetch(log2),
    });
    assert.ok(
      log2.filter((l) => l.startsWith('POST /api/upload?')).every((l) => l.endsWith('chunkId')),
      log2.join(),
    );
  });

  it('uncached, a file the server has is found once hashed (one-chunk 秒传 plan): not sent whole', async () => {
    const data = randomBytesSeeded(20 * MiB + 5, 1915);
    const c = cut(data, MiB);
    await owner.handshake(srv.url, { fileId: c.fileId, ext: '.bin', chunkIds: c.chunkIds });
    for (let i = 0; i < c.chunks.length; i++)
      await owner.chunk(srv.url, c.fileId, c.chunkIds[i]!, c.chunks[i]!);
    const path = join(work, 'known.bin');
    await (await import('node:fs/promises')).writeFile(path, data);
    // Chunks slowed (each answer 200 ms late): the hashing ends while they go.
    const slow: typeof fetch = async (input, init) => {
      const res = await fetch(input, init);
      if (String(input).includes('/api/upload?')) await new Promise((resolve) => setTimeout(resolve, 200));
      return res;
    };
    const log: string[] = [];
    const r = await upload(path, {
      server: srv.url,
      hashCache: false,
      chunkSize: MiB,
      concurrency: 1,
      deferred: true,
      fetch: recordingFetch(log, slow),
    });
    assert.equal(r.instant, true);
    assert.equal(r.url, `${srv.url}/upload/${c.fileId}.bin`);
    assert.ok(r.bytesSent < data.length / 2, `sent ${r.bytesSent}`);
    assert.ok(log.includes('POST /api/upload/handshake?'), log.join());
    assert.ok(!log.includes('POST /api/upload/commit?'), log.join());
  });

  it('interrupted once hashed: listed by findPreviousUploads, then resumed by its id with MD5 ids for what is missing', async () => {
    const path = join(work, 'resume.bin');
    const size = 20 * MiB + 1;
    const sum = await writeRandomFile(path, size, 1916);
    const hashCache = new FileHashCache(join(work, 'resume-cache'));
    const key = `${(await fileSource(path)).cacheKey}|${MiB}`;
    const proxy = await startProxy(srv.url, { rate: 0 });
    proxy.options.rate = 4 * MiB;
    const options = { hashCache, chunkSize: MiB, concurrency: 1, deferred: true };
    try {
      const ctl = new AbortController();
      const running = upload(path, { ...options, server: proxy.url, signal: ctl.signal });
      for (let i = 0; i < 600 && !ctl.signal.aborted; i++) {
        const cached = await hashCache.get(key);
        if (cached?.uploadId && srv.running.service.stats().heldBytes > 2 * MiB) ctl.abort();
        else await new Promise((resolve) => setTimeout(resolve, 50));
      }
      await assert.rejects(running, (e: unknown) => e instanceof TransferError && e.code === 'ABORTED');
      const cached = await hashCache.get(key);
      assert.match(cached?.uploadId ?? '', /^[0-9a-f]{32}$/);
      assert.deepEqual(cached?.chunkIds, [], 'the chunk MD5s were never computed');
      const [found] = await findPreviousUploads(path, { server: srv.url, hashCache, chunkSize: MiB });
      assert.equal(found?.uploadId, cached?.uploadId);
      assert.equal(found?.status, 'uploading');
      assert.ok((found?.bytesHeld ?? 0) >= 2 * MiB);
      const log: string[] = [];
      const r = await upload(path, { ...options, server: srv.url, fetch: recordingFetch(log) });
      assert.ok(r.bytesSent <= size - 2 * MiB, `resumed: sent ${r.bytesSent} of ${size}`);
      assert.ok(log.includes('POST /api/upload/deferred?'), log.join());
      for (const l of log.filter((x) => x.startsWith('POST /api/upload?'))) {
        assert.equal(l, 'POST /api/upload?fileId&chunkId');
      }
      assert.equal(md5(Buffer.from(await (await fetch(r.url)).arrayBuffer())), sum);
      assert.equal((await hashCache.get(key))?.uploadId, undefined);
      assert.equal((await upload(path, { ...options, server: srv.url })).instant, true);
    } finally {
      await proxy.close();
    }
  });
});
