/**
 * Answers proportional to their request (issue 15, row 5): a seed chunk answer lists at most one
 * id per 2 KiB the chunk carried, `Prefer: return=minimal` answers are O(1), the state report is
 * paged, and big JSON answers are compressed for clients that accept it.
 */
import assert from 'node:assert/strict';
import { writeFile } from 'node:fs/promises';
import { get } from 'node:http';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { gunzipSync } from 'node:zlib';
import { upload } from '../src/client/node/index.js';
import type { UploadState } from '../src/protocol/types.js';
import { getJson, handshake, sendChunk } from './helpers/api.js';
import { md5, randomBytesSeeded } from './helpers/bytes.js';
import { startTestServer, type TestServer } from './helpers/server.js';

let srv: TestServer;
before(async () => {
  srv = await startTestServer();
});
after(() => srv.close());

/** A file cut into `size`-byte chunks, with the seed's ids (MD5 + index). */
function cut(data: Buffer, size: number) {
  const chunks: Buffer[] = [];
  for (let i = 0; i * size < data.length; i++) chunks.push(data.subarray(i * size, (i + 1) * size));
  return { fileId: md5(data), chunks, chunkIds: chunks.map((c, i) => md5(c) + i) };
}

/** A chunk as the course's client sends it, with the answer's size in bytes (decoded). */
async function postChunk(
  fileId: string,
  chunkId: string,
  file: Buffer,
  headers: Record<string, string> = {},
) {
  const form = new FormData();
  form.append('file', new Blob([file as Uint8Array<ArrayBuffer>]));
  form.append('chunkId', chunkId);
  form.append('fileId', fileId);
  const res = await fetch(`${srv.url}/api/upload`, { method: 'POST', body: form, headers });
  const text = await res.text();
  return {
    status: res.status,
    headers: res.headers,
    bytes: Buffer.byteLength(text),
    body: JSON.parse(text) as { code: number; data: string[] | null; remaining?: number; url?: string },
  };
}

/** GET without fetch's automatic decompression: what went on the wire. */
function rawGet(url: string, acceptEncoding?: string) {
  return new Promise<{ status: number; headers: Record<string, unknown>; body: Buffer }>(
    (resolve, reject) => {
      get(url, { headers: acceptEncoding ? { 'accept-encoding': acceptEncoding } : {} }, (res) => {
        const parts: Buffer[] = [];
        res.on('data', (b: Buffer) => parts.push(b));
        res.on('end', () =>
          resolve({ status: res.statusCode ?? 0, headers: res.headers, body: Buffer.concat(parts) }),
        );
      }).on('error', reject);
    },
  );
}

describe('seed chunk answers', () => {
  it('N tiny chunks one by one: the answers total a small multiple of the file, data[0] always next', async () => {
    const n = 300;
    const c = cut(randomBytesSeeded(n * 64, 501), 64);
    const hs = await handshake(srv.url, { fileId: c.fileId, ext: '.bin', chunkIds: c.chunkIds });
    assert.equal((hs.body.data as string[]).length, n, 'the handshake answer stays complete');
    let answered = 0;
    let next = (hs.body.data as string[])[0];
    for (let i = 0; i < n; i++) {
      assert.equal(next, c.chunkIds[i], 'the course client sends data[0] next');
      const r = await postChunk(c.fileId, c.chunkIds[i]!, c.chunks[i]!);
      assert.equal(r.status, 200);
      answered += r.bytes;
      assert.equal(r.body.remaining, n - i - 1);
      if (i < n - 1) {
        assert.deepEqual(r.body.data, [c.chunkIds[i + 1]], 'a 64-byte chunk pays for one id');
        next = r.body.data?.[0];
      } else {
        assert.deepEqual(r.body.data, []);
        assert.equal(r.body.url, `${srv.url}/upload/${c.fileId}.bin`);
      }
    }
    // Before: every answer carried the whole remaining list, ~1.7 MB here (×90 the file).
    assert.ok(answered < 2 * n * 64, `${answered} bytes answered for a ${n * 64}-byte file`);
  });

  it('a 1 MiB chunk lists 512 ids, in plan order, and the count of all', async () => {
    const big = randomBytesSeeded(1024 * 1024, 502);
    const small = Array.from({ length: 700 }, (_, i) => randomBytesSeeded(100, 600 + i));
    const chunks = [big, ...small];
    const chunkIds = chunks.map((b, i) => md5(b) + i);
    const fileId = md5(Buffer.concat(chunks));
    await handshake(srv.url, { fileId, ext: '.bin', chunkIds });
    const r = await postChunk(fileId, chunkIds[0]!, big);
    assert.equal(r.status, 200);
    assert.deepEqual(r.body.data, chunkIds.slice(1, 513));
    assert.equal(r.body.remaining, 700);
  });
});

describe('Prefer: return=minimal', () => {
  it('chunk answers are O(1) whatever the plan; the last one keeps the done shape', async () => {
    const prefer = { prefer: 'respond-async, return=minimal' };
    for (const n of [10, 10_000]) {
      const c = cut(randomBytesSeeded(n * 32, 503 + n), 32);
      await handshake(srv.url, { fileId: c.fileId, ext: '.bin', chunkIds: c.chunkIds });
      for (const i of [0, 1]) {
        const r = await postChunk(c.fileId, c.chunkIds[i]!, c.chunks[i]!, prefer);
        assert.equal(r.status, 200);
        assert.equal(r.headers.get('preference-applied'), 'return=minimal');
        assert.deepEqual(r.body, { code: 0, msg: '', data: null, remaining: n - i - 1 });
        assert.ok(r.bytes < 60, `${r.bytes} bytes answered for a plan of ${n}`);
      }
    }
    const c = cut(randomBytesSeeded(3 * 32, 509), 32);
    await handshake(srv.url, { fileId: c.fileId, ext: '.bin', chunkIds: c.chunkIds });
    await sendChunk(
      srv.url,
      { fileId: c.fileId, chunkId: c.chunkIds[0]!, file: c.chunks[0]! },
      undefined,
      prefer,
    );
    await sendChunk(
      srv.url,
      { fileId: c.fileId, chunkId: c.chunkIds[1]!, file: c.chunks[1]! },
      undefined,
      prefer,
    );
    const last = await postChunk(c.fileId, c.chunkIds[2]!, c.chunks[2]!, prefer);
    assert.deepEqual(last.body, {
      code: 0,
      msg: '',
      data: [],
      url: `${srv.url}/upload/${c.fileId}.bin`,
      remaining: 0,
    });
  });

  it('our client asks for it and uploads many small chunks with O(1) answers', async () => {
    const path = join(srv.dataDir, 'client-small-chunks.bin');
    const data = randomBytesSeeded(100 * 4096, 504);
    await writeFile(path, data);
    let chunkAnswers = 0;
    let chunkAnswerBytes = 0;
    const counting: typeof fetch = async (input, init) => {
      const res = await fetch(input, init);
      const url = String(input);
      if (url.includes('/api/upload?')) {
        assert.equal(new Headers(init?.headers).get('prefer'), 'return=minimal');
        const text = await res.clone().text();
        chunkAnswers++;
        chunkAnswerBytes += Buffer.byteLength(text);
      }
      return res;
    };
    const r = await upload(path, { server: srv.url, chunkSize: 4096, hashCache: false, fetch: counting });
    assert.equal(r.fileId, md5(data));
    assert.equal(chunkAnswers, 100);
    assert.ok(chunkAnswerBytes < chunkAnswers * 120, `${chunkAnswerBytes} bytes of chunk answers`);
  });
});

describe('GET /api/upload/<fileId> is paged', () => {
  it('pages of at most 1,000 ids per list, the totals always present', async () => {
    const n = 2500;
    const c = cut(randomBytesSeeded(n * 16, 505), 16);
    await handshake(srv.url, { fileId: c.fileId, ext: '.bin', chunkIds: c.chunkIds });
    for (let i = 0; i < 3; i++) await postChunk(c.fileId, c.chunkIds[i]!, c.chunks[i]!);
    const page = async (q: string) => {
      const r = await getJson(`${srv.url}/api/upload/${c.fileId}${q}`);
      assert.equal(r.status, 200);
      return r.body.data as UploadState;
    };
    const first = await page('');
    assert.equal(first.chunkIds.length, 1000);
    assert.deepEqual(first.chunkIds, c.chunkIds.slice(0, 1000));
    assert.deepEqual(first.held, c.chunkIds.slice(0, 3));
    assert.deepEqual(first.needed, c.chunkIds.slice(3, 1003));
    assert.deepEqual(first.totals, { chunkIds: n, held: 3, needed: n - 3 });
    assert.equal(first.limit, 1000);
    const tail = await page('?offset=2000&limit=600');
    assert.deepEqual(tail.chunkIds, c.chunkIds.slice(2000));
    assert.deepEqual(tail.needed, c.chunkIds.slice(2003));
    assert.equal(tail.offset, 2000);
    assert.equal(
      (await page('?limit=100000')).chunkIds.length,
      1000,
      'a larger limit is lowered to the largest',
    );
    const counts = await page('?limit=0');
    assert.deepEqual([counts.chunkIds, counts.held, counts.needed], [[], [], []]);
    assert.deepEqual(counts.totals, first.totals);
    const bad = await getJson(`${srv.url}/api/upload/${c.fileId}?offset=-1`);
    assert.equal(bad.status, 400);
    assert.equal(bad.body.error, 'INVALID_FIELD');
  });

  it('big JSON answers are compressed when accepted (Vary: Accept-Encoding), never otherwise', async () => {
    const c = cut(randomBytesSeeded(1500 * 16, 506), 16);
    await handshake(srv.url, { fileId: c.fileId, ext: '.bin', chunkIds: c.chunkIds });
    const url = `${srv.url}/api/upload/${c.fileId}`;
    const plain = await rawGet(url);
    assert.equal(plain.headers['content-encoding'], undefined);
    assert.match(String(plain.headers.vary), /Accept-Encoding/);
    const zipped = await rawGet(url, 'gzip');
    assert.equal(zipped.headers['content-encoding'], 'gzip');
    assert.match(String(zipped.headers.vary), /Accept-Encoding/);
    assert.equal(Number(zipped.headers['content-length']), zipped.body.length);
    assert.ok(zipped.body.length < plain.body.length);
    assert.deepEqual(JSON.parse(gunzipSync(zipped.body).toString()), JSON.parse(plain.body.toString()));
    assert.equal((await rawGet(url, 'br;q=1, gzip;q=0.5')).headers['content-encoding'], 'br');
    // The byte routes are never compressed.
    const one = cut(Buffer.alloc(5000, 'a'), 5000);
    await handshake(srv.url, { fileId: one.fileId, ext: '.txt', chunkIds: one.chunkIds });
    await postChunk(one.fileId, one.chunkIds[0]!, one.chunks[0]!);
    const file = await rawGet(`${srv.url}/upload/${one.fileId}.txt`, 'gzip');
    assert.equal(file.status, 200);
    assert.equal(file.headers['content-encoding'], undefined);
    assert.equal(file.body.length, 5000);
  });
});
