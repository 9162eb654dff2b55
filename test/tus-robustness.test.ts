/**
 * What an outsider or a bad network can do to tus uploads, against the real server: racing
 * PATCHes (409, never interleaved bytes), a client that vanishes mid-PATCH (its lock dies with it,
 * what arrived counts), a silent connection (its lock is taken over), a restart (the folded MD5
 * continues from the record; bytes beyond the recorded offset are cut), descriptors per idle
 * upload (0), the caps per client, expiry (410, then swept) and the MD5 collision rule.
 */
import assert from 'node:assert/strict';
import { readdirSync } from 'node:fs';
import { appendFile, mkdir, readdir, readFile, stat, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { handshake } from './helpers/api.js';
import { cut, md5, randomBytesSeeded, sha256 } from './helpers/bytes.js';
import { openSocket } from './helpers/raw-http.js';
import { createTus, OCTETS, send, TUS } from './helpers/resumable.js';
import { startTestServer, tempDir } from './helpers/server.js';

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** A PATCH sent by hand: its head and the first bytes of its body, the rest left to the test. */
async function startPatch(url: string, offset: number, length: number, first: Buffer) {
  const u = new URL(url);
  const socket = await openSocket(url);
  let answer = '';
  socket.on('data', (b: Buffer) => {
    answer += b.toString();
  });
  socket.on('error', () => undefined);
  socket.write(
    `PATCH ${u.pathname} HTTP/1.1\r\nHost: ${u.host}\r\nTus-Resumable: 1.0.0\r\n` +
      `Content-Type: application/offset+octet-stream\r\nUpload-Offset: ${offset}\r\nContent-Length: ${length}\r\n\r\n`,
  );
  socket.write(first);
  return { socket, answer: () => answer };
}

const idOf = (url: string) => new URL(url).pathname.split('/').pop()!;

describe('tus under pressure (local disk)', { timeout: 120_000 }, () => {
  it('two PATCHes racing on one upload: the second is 409, the bytes are never interleaved', async () => {
    const s = await startTestServer({ logLevel: 'error' });
    try {
      const data = randomBytesSeeded(200_000, 11);
      const url = await createTus(s.url, { 'Upload-Length': String(data.length) });
      const first = await startPatch(url, 0, data.length, data.subarray(0, 50_000));
      await sleep(300);
      const second = await send(
        url,
        'PATCH',
        { ...OCTETS, 'Upload-Offset': '0' },
        randomBytesSeeded(1000, 12),
      );
      assert.equal(second.status, 409);
      first.socket.write(data.subarray(50_000));
      for (let i = 0; i < 100 && !first.answer().includes('\r\n\r\n'); i++) await sleep(50);
      assert.match(first.answer(), /^HTTP\/1\.1 204/);
      first.socket.destroy();
      const got = await fetch(`${s.url}/upload/${md5(data)}`);
      assert.ok(Buffer.from(await got.arrayBuffer()).equals(data));
    } finally {
      await s.close();
    }
  });

  it('a client gone mid-PATCH: its lock dies with it and what arrived counts', async () => {
    const s = await startTestServer({ logLevel: 'error' });
    try {
      const data = randomBytesSeeded(100_000, 13);
      const url = await createTus(s.url, { 'Upload-Length': String(data.length) });
      const p = await startPatch(url, 0, data.length, data.subarray(0, 40_000));
      await sleep(300);
      p.socket.destroy();
      // The server learns of the close a moment later; a HEAD then waits for the request to let go.
      await sleep(100);
      const h = await send(url, 'HEAD', TUS);
      assert.equal(h.headers.get('upload-offset'), '40000');
      const rest = await send(url, 'PATCH', { ...OCTETS, 'Upload-Offset': '40000' }, data.subarray(40_000));
      assert.equal(rest.status, 204);
      const got = await fetch(`${s.url}/upload/${md5(data)}`);
      assert.ok(Buffer.from(await got.arrayBuffer()).equals(data));
    } finally {
      await s.close();
    }
  });

  it('a silent (half-open) PATCH loses its lock to a newer request, which resumes from what it wrote', async () => {
    const s = await startTestServer({ logLevel: 'error', streamLockIdleMs: 300 });
    try {
      const data = randomBytesSeeded(50_000, 14);
      const url = await createTus(s.url, { 'Upload-Length': String(data.length) });
      const stuck = await startPatch(url, 0, data.length, data.subarray(0, 10_000));
      await sleep(700);
      // The newer PATCH takes the lock over; the old one's bytes now count, so its offset is stale.
      const newer = await send(url, 'PATCH', { ...OCTETS, 'Upload-Offset': '0' }, data);
      assert.equal(newer.status, 409);
      const h = await send(url, 'HEAD', TUS);
      assert.equal(h.headers.get('upload-offset'), '10000');
      const rest = await send(url, 'PATCH', { ...OCTETS, 'Upload-Offset': '10000' }, data.subarray(10_000));
      assert.equal(rest.status, 204);
      await sleep(100);
      assert.ok(stuck.socket.destroyed || stuck.socket.readableEnded || stuck.answer() !== '');
      stuck.socket.destroy();
    } finally {
      await s.close();
    }
  });

  it('after a restart the upload resumes: the MD5 folds on from the record, bytes beyond its offset are cut', async () => {
    const dataDir = await tempDir();
    const data = randomBytesSeeded(300_000, 15);
    let s = await startTestServer({ logLevel: 'error', dataDir });
    const url = await createTus(s.url, { 'Upload-Length': String(data.length) });
    await send(url, 'PATCH', { ...OCTETS, 'Upload-Offset': '0' }, data.subarray(0, 120_000));
    await s.close();
    // What a crash between writing bytes and their record leaves: bytes the record does not count.
    await appendFile(join(dataDir, 'uploads', 'streams', idOf(url), 'data'), randomBytesSeeded(5000, 99));
    s = await startTestServer({ logLevel: 'error', dataDir });
    try {
      const path = new URL(url).pathname;
      assert.equal((await send(`${s.url}${path}`, 'HEAD', TUS)).headers.get('upload-offset'), '120000');
      const rest = await send(
        `${s.url}${path}`,
        'PATCH',
        { ...OCTETS, 'Upload-Offset': '120000' },
        data.subarray(120_000),
      );
      assert.equal(rest.status, 204);
      const got = await fetch(`${s.url}/upload/${md5(data)}`);
      assert.ok(Buffer.from(await got.arrayBuffer()).equals(data));
    } finally {
      await s.close();
    }
  });

  it('a completed upload records its SHA-256 (folded, or read back after a restart): a seed client declaring it gets the file at once', async () => {
    const dataDir = await tempDir();
    const data = randomBytesSeeded(300_000, 18);
    const other = randomBytesSeeded(70_000, 19);
    let s = await startTestServer({ logLevel: 'error', dataDir });
    const url = await createTus(s.url, { 'Upload-Length': String(data.length) });
    await send(url, 'PATCH', { ...OCTETS, 'Upload-Offset': '0' }, data.subarray(0, 120_000));
    await s.close();
    // The restarted process has no folded SHA-256 for the first 120,000 bytes.
    s = await startTestServer({ logLevel: 'error', dataDir });
    try {
      const path = new URL(url).pathname;
      const rest = await send(
        `${s.url}${path}`,
        'PATCH',
        { ...OCTETS, 'Upload-Offset': '120000' },
        data.subarray(120_000),
      );
      assert.equal(rest.status, 204);
      // One process sees every byte of this one: the folded SHA-256.
      const whole = await createTus(s.url, { 'Upload-Length': String(other.length) });
      assert.equal((await send(whole, 'PATCH', { ...OCTETS, 'Upload-Offset': '0' }, other)).status, 204);
      for (const bytes of [data, other]) {
        const sidecar = JSON.parse(await readFile(join(dataDir, 'files', `${md5(bytes)}.json`), 'utf8'));
        assert.equal(sidecar.sha256, sha256(bytes));
      }
      const c = cut(data, 64 * 1024);
      const hs = await handshake(s.url, {
        fileId: c.fileId,
        ext: '.bin',
        chunkIds: c.chunkIds,
        sha256: sha256(data),
      });
      assert.equal(hs.body.data, `${s.url}/upload/${c.fileId}.bin`, 'instant for both digests');
    } finally {
      await s.close();
    }
  });

  it('an idle upload holds no descriptor', async () => {
    const s = await startTestServer({ logLevel: 'error' });
    const fds = () => readdirSync('/proc/self/fd').length;
    try {
      const warm = await createTus(s.url, { 'Upload-Length': '100' });
      await send(warm, 'PATCH', { ...OCTETS, 'Upload-Offset': '0' }, 'x');
      const before = fds();
      for (let i = 0; i < 30; i++) {
        const url = await createTus(s.url, { 'Upload-Length': '100' });
        await send(url, 'PATCH', { ...OCTETS, 'Upload-Offset': '0' }, randomBytesSeeded(50, i));
      }
      // Keep-alive sockets of the test's own client may come and go; 30 idle uploads add none.
      assert.ok(fds() - before < 6, `${fds() - before} more descriptors`);
    } finally {
      await s.close();
    }
  });

  it('creation counts against the caps on open uploads per client (429); a completed upload frees its slot', async () => {
    const s = await startTestServer({ logLevel: 'error', maxUploadsPerClient: 3 });
    try {
      const urls: string[] = [];
      for (let i = 0; i < 3; i++) urls.push(await createTus(s.url, { 'Upload-Length': '2' }));
      const refused = await send(`${s.url}/files/`, 'POST', { ...TUS, 'Upload-Length': '2' });
      assert.equal(refused.status, 429);
      assert.ok(refused.headers.get('retry-after'));
      await send(urls[0]!, 'PATCH', { ...OCTETS, 'Upload-Offset': '0' }, 'ok');
      assert.equal((await send(`${s.url}/files/`, 'POST', { ...TUS, 'Upload-Length': '2' })).status, 201);
      // The seed protocol's plans count in the same caps.
      const hs = await fetch(`${s.url}/api/upload/handshake`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ fileId: md5('zz'), ext: '.bin', chunkIds: [md5('zz')] }),
      });
      assert.equal(hs.status, 429);
    } finally {
      await s.close();
    }
  });

  it('a deferred length cannot grow past the largest file: 413 before the bytes are kept', async () => {
    const s = await startTestServer({ logLevel: 'error', maxFileSize: 1000 });
    try {
      const url = await createTus(s.url, { 'Upload-Defer-Length': '1' });
      const a = await send(url, 'PATCH', { ...OCTETS, 'Upload-Offset': '0' }, randomBytesSeeded(1001, 1));
      assert.equal(a.status, 413);
      const b = await send(url, 'PATCH', { ...OCTETS, 'Upload-Offset': '0', 'Upload-Length': '2000' }, 'x');
      assert.equal(b.status, 413);
      assert.equal((await send(url, 'HEAD', TUS)).headers.get('upload-offset'), '0');
    } finally {
      await s.close();
    }
  });

  it('expiration: an idle upload past its expiry is 410, then the sweeper deletes it', async () => {
    const s = await startTestServer({ logLevel: 'error', expireAfterMs: 500 });
    try {
      const url = await createTus(s.url, { 'Upload-Length': '10' });
      await send(url, 'PATCH', { ...OCTETS, 'Upload-Offset': '0' }, 'abc');
      await sleep(650);
      const h = await send(url, 'HEAD', TUS);
      assert.ok([410, 404].includes(h.status));
      const dir = join(s.dataDir, 'uploads', 'streams');
      for (let i = 0; i < 60 && (await readdir(dir)).length > 0; i++) await sleep(100);
      assert.deepEqual(await readdir(dir), []);
      assert.equal((await send(url, 'HEAD', TUS)).status, 404);
    } finally {
      await s.close();
    }
  });

  it('a completed upload answers HEAD for --stream-done-ttl, then its record is swept (completed ones count in no cap)', async () => {
    const s = await startTestServer({ logLevel: 'error', expireAfterMs: 2000, streamDoneTtlMs: 200 });
    try {
      const url = await createTus(s.url, { 'Upload-Length': '3' });
      await send(url, 'PATCH', { ...OCTETS, 'Upload-Offset': '0' }, 'end');
      let status = (await send(url, 'HEAD', TUS)).status;
      assert.ok(status === 200 || status === 410);
      for (let i = 0; i < 60 && status !== 404; i++) {
        await sleep(100);
        status = (await send(url, 'HEAD', TUS)).status;
      }
      assert.equal(status, 404);
      assert.deepEqual(await readdir(join(s.dataDir, 'uploads', 'streams')), []);
    } finally {
      await s.close();
    }
  });

  it('an MD5 already published with other bytes (a collision) is never joined: 409, nothing published', async () => {
    const s = await startTestServer({ logLevel: 'error' });
    try {
      const data = randomBytesSeeded(1000, 16);
      const impostor = randomBytesSeeded(1000, 17);
      // As if a crafted collision had been published first under the same MD5.
      await mkdir(join(s.dataDir, 'files'), { recursive: true });
      await writeFile(
        join(s.dataDir, 'files', `${md5(data)}.json`),
        JSON.stringify({ name: null, ext: '.bin', size: 1000 }),
      );
      await writeFile(join(s.dataDir, 'files', md5(data)), impostor);
      const url = await createTus(s.url, { 'Upload-Length': '1000' });
      const a = await send(url, 'PATCH', { ...OCTETS, 'Upload-Offset': '0' }, data);
      assert.equal(a.status, 409);
      assert.match(a.text, /MD5_COLLISION/);
      const got = await fetch(`${s.url}/upload/${md5(data)}`);
      assert.ok(Buffer.from(await got.arrayBuffer()).equals(impostor));
      assert.equal(await stat(join(s.dataDir, 'uploads', 'streams', idOf(url))).catch(() => null), null);
    } finally {
      await s.close();
    }
  });
});
