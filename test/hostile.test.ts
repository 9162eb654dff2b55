/** Hostile input: nothing reads or writes outside the data folder, every bad input gets a 4xx. */
import assert from 'node:assert/strict';
import { mkdir, readdir, readFile, stat, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { getJson, handshake, sendChunk } from './helpers/api.js';
import { cut, md5, randomBytesSeeded } from './helpers/bytes.js';
import { openSocket, parseResponse, rawRequest } from './helpers/raw-http.js';
import { startTestServer, type TestServer, tempDir } from './helpers/server.js';

let srv: TestServer;
let outside: string;
const LIMIT = 1024 * 1024;
before(async () => {
  outside = await tempDir('rt-outside-');
  await writeFile(join(outside, 'secret.txt'), 'secret');
  srv = await startTestServer({ maxChunkSize: LIMIT });
});
after(() => srv.close());

const traversal = [
  '../../etc/passwd',
  '..%2f..%2fetc%2fpasswd',
  '%2e%2e%2f%2e%2e%2f',
  '/etc/passwd',
  '..\\..\\windows',
  `${'a'.repeat(31)}\u0000`,
  `${'a'.repeat(32)}/../x`,
  'a'.repeat(33),
  'a'.repeat(10_000),
  '',
];

async function listTree(dir: string): Promise<string[]> {
  const out: string[] = [];
  for (const e of await readdir(dir, { withFileTypes: true, recursive: true })) {
    out.push(join(e.parentPath ?? (e as { path?: string }).path ?? '', e.name));
  }
  return out;
}

describe('identifiers never reach a path', () => {
  for (const bad of traversal) {
    it(`fileId/chunkId/ext ${JSON.stringify(bad.slice(0, 40))} → 4xx envelope`, async () => {
      for (const body of [
        { fileId: bad, ext: '.jpg', chunkIds: ['a'.repeat(32)] },
        { fileId: 'a'.repeat(32), ext: bad, chunkIds: ['a'.repeat(32)] },
        { fileId: 'a'.repeat(32), ext: '.jpg', chunkIds: [bad] },
      ]) {
        const a = await handshake(srv.url, body);
        assert.ok(a.status === 400 || a.status === 403, `${a.status} ${JSON.stringify(a.body)}`);
        assert.equal(a.body.data, null);
        assert.match(a.body.error ?? '', /^(MISSING|INVALID)_/);
      }
      const c = await sendChunk(srv.url, { fileId: bad, chunkId: bad, file: Buffer.from('x') });
      assert.ok(c.status === 400 || c.status === 403);
      const st = await getJson(`${srv.url}/api/upload/${encodeURIComponent(bad)}`);
      assert.ok(st.status === 400 || st.status === 403 || st.status === 404);
    });
  }

  it('raw traversal paths on /upload, /download and /api answer 404 or 400 and leak nothing', async () => {
    const paths = [
      '/download/../../../../etc/passwd',
      '/download/..%2f..%2f..%2fetc%2fpasswd',
      '/download/%2e%2e/%2e%2e/etc/passwd',
      `/download/${encodeURIComponent(join(outside, 'secret.txt'))}`,
      '/download/.hidden',
      '/download/%00',
      '/download/%E0%A4%A',
      '/upload/../files/x',
      `/upload/${'a'.repeat(32)}.jpg%00.html`,
      '/upload/%2e%2e%2ffiles',
      '/api/upload/..%2f..%2f',
      '//etc/passwd',
    ];
    for (const p of paths) {
      const r = await rawRequest(srv.url, `GET ${p} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n`);
      assert.ok([400, 403, 404].includes(r.status), `${p} → ${r.status}`);
      assert.ok(!r.body.includes('secret') && !r.body.includes('root:'), p);
    }
  });

  it('a name with CR/LF never reaches a header; a Host header cannot inject into links', async () => {
    const r = await rawRequest(
      srv.url,
      'POST /api/upload/handshake HTTP/1.1\r\nHost: evil.example/"><script>\r\nContent-Type: application/json\r\nContent-Length: 2\r\nConnection: close\r\n\r\n{}',
    );
    assert.equal(r.status, 403);
  });
});

describe('bodies', () => {
  it('malformed JSON → 400 MALFORMED_BODY; unknown content type → 415', async () => {
    const bad = await getJson(`${srv.url}/api/upload/handshake`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: '{"fileId": "abc",',
    });
    assert.equal(bad.status, 400);
    assert.equal(bad.body.error, 'MALFORMED_BODY');
    const arr = await getJson(`${srv.url}/api/upload/handshake`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: '[1,2]',
    });
    assert.equal(arr.status, 400);
    const xml = await getJson(`${srv.url}/api/upload`, {
      method: 'POST',
      headers: { 'content-type': 'application/xml' },
      body: '<x/>',
    });
    assert.equal(xml.status, 415);
    assert.equal(xml.body.error, 'UNSUPPORTED_MEDIA_TYPE');
  });

  it('a handshake with 100,000 chunk ids is accepted; one over the limit is refused', async () => {
    const ids = Array.from({ length: 100_000 }, (_, i) => md5(`chunk ${i}`) + i);
    const fileId = md5('big plan');
    const okPlan = await handshake(srv.url, { fileId, ext: '.bin', chunkIds: ids });
    assert.equal(okPlan.status, 200);
    assert.equal((okPlan.body.data as string[]).length, 100_000);
    const tooMany = await handshake(srv.url, { fileId, ext: '.bin', chunkIds: [...ids, md5('one more')] });
    assert.equal(tooMany.status, 413);
    assert.equal(tooMany.body.error, 'TOO_MANY_CHUNKS');
    await getJson(`${srv.url}/api/upload/${fileId}`, { method: 'DELETE' });
  });

  it('a multipart body without its closing boundary → 400, nothing stored', async () => {
    const c = cut(randomBytesSeeded(5000, 61));
    await handshake(srv.url, { fileId: c.fileId, ext: '.bin', chunkIds: c.chunkIds });
    const body =
      `--XyZ\r\nContent-Disposition: form-data; name="fileId"\r\n\r\n${c.fileId}\r\n` +
      `--XyZ\r\nContent-Disposition: form-data; name="chunkId"\r\n\r\n${c.chunkIds[0]}\r\n` +
      '--XyZ\r\nContent-Disposition: form-data; name="file"; filename="b"\r\nContent-Type: application/octet-stream\r\n\r\n' +
      c.chunks[0]!.subarray(0, 2000).toString('latin1');
    const r = await rawRequest(
      srv.url,
      Buffer.from(
        `POST /api/upload HTTP/1.1\r\nHost: x\r\nContent-Type: multipart/form-data; boundary=XyZ\r\nContent-Length: ${Buffer.byteLength(body, 'latin1')}\r\nConnection: close\r\n\r\n${body}`,
        'latin1',
      ),
    );
    assert.equal(r.status, 400);
    assert.match(r.body, /MALFORMED_BODY/);
    const st = await getJson(`${srv.url}/api/upload/${c.fileId}`);
    assert.equal((st.body.data as { bytesHeld: number }).bytesHeld, 0);
  });

  it('a body cut off mid-way (connection dropped) stores nothing and leaves no temp file', async () => {
    const c = cut(randomBytesSeeded(300_000, 62));
    await handshake(srv.url, { fileId: c.fileId, ext: '.bin', chunkIds: c.chunkIds });
    const s = await openSocket(srv.url);
    const head =
      '--B\r\nContent-Disposition: form-data; name="file"; filename="b"\r\nContent-Type: application/octet-stream\r\n\r\n';
    s.write(
      `POST /api/upload HTTP/1.1\r\nHost: x\r\nContent-Type: multipart/form-data; boundary=B\r\nContent-Length: 400000\r\n\r\n${head}`,
    );
    s.write(c.chunks[0]!.subarray(0, 100_000));
    await sleep(100);
    s.destroy();
    await sleep(200);
    assert.deepEqual(await readdir(join(srv.dataDir, 'tmp')), []);
    const st = await getJson(`${srv.url}/api/upload/${c.fileId}`);
    assert.equal((st.body.data as { bytesHeld: number }).bytesHeld, 0);
  });

  it('a chunk over the limit is refused while it streams, before the body has been sent', async () => {
    const c = cut(randomBytesSeeded(1000, 63));
    await handshake(srv.url, { fileId: c.fileId, ext: '.bin', chunkIds: c.chunkIds });
    const s = await openSocket(srv.url);
    const chunks: Buffer[] = [];
    s.on('data', (b: Buffer) => chunks.push(b));
    s.on('error', () => undefined);
    const total = 64 * LIMIT;
    s.write(
      `POST /api/upload HTTP/1.1\r\nHost: x\r\nContent-Type: multipart/form-data; boundary=B\r\nContent-Length: ${total}\r\n\r\n` +
        `--B\r\nContent-Disposition: form-data; name="fileId"\r\n\r\n${c.fileId}\r\n` +
        '--B\r\nContent-Disposition: form-data; name="file"; filename="b"\r\n\r\n',
    );
    const block = Buffer.alloc(64 * 1024, 7);
    let sent = 0;
    while (sent < total && chunks.length === 0 && !s.destroyed) {
      await new Promise((r) => s.write(block, r));
      sent += block.length;
    }
    await sleep(100);
    s.destroy();
    const r = parseResponse(Buffer.concat(chunks).toString('latin1'));
    assert.equal(r.status, 413);
    assert.match(r.body, /CHUNK_TOO_LARGE/);
    assert.ok(sent < total / 2, `answered after ${sent} of ${total} bytes`);
    assert.deepEqual(await readdir(join(srv.dataDir, 'tmp')), []);
  });

  it('a raw chunk with an oversized Content-Length is refused before reading it', async () => {
    const r = await rawRequest(
      srv.url,
      `POST /api/upload?fileId=${'a'.repeat(32)}&chunkId=${'b'.repeat(32)} HTTP/1.1\r\nHost: x\r\nContent-Type: application/octet-stream\r\nContent-Length: ${10 * LIMIT}\r\n\r\nxx`,
    );
    assert.equal(r.status, 413);
  });
});

describe('the data folder', () => {
  it('after all of the above, nothing was written outside it and nothing unexpected inside', async () => {
    assert.equal(await readFile(join(outside, 'secret.txt'), 'utf8'), 'secret');
    assert.deepEqual((await readdir(outside)).sort(), ['secret.txt']);
    for (const path of await listTree(srv.dataDir)) {
      const rel = path.slice(srv.dataDir.length + 1);
      assert.match(
        rel,
        // Store keys are an MD5, or an MD5 and 16 hex digits of a SHA-256 (layout.ts);
        // durability.json is the group commit's checkpoint (durability.ts); trash/ holds what is
        // being deleted, under names of its own (trash.ts).
        /^durability\.json$|^trash(\/[0-9a-f-]{36}(\/.*)?)?$|^(files|uploads|tmp|lib-empty)(\/[0-9a-f]{32}(-[0-9a-f]{16})?(\.json)?(\/(plan\.json|chunks(\/[0-9a-f]{32})?|sessions(\/[0-9a-f]{32}\.json)?))?)?$/,
        `unexpected path ${rel}`,
      );
    }
    await mkdir(join(srv.dataDir, 'files'), { recursive: true });
    assert.ok((await stat(join(srv.dataDir, 'files'))).isDirectory());
    assert.equal((await fetch(`${srv.url}/api/health`)).status, 200, 'the server is still up');
  });
});
