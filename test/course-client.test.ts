/**
 * Behaves exactly like the client published with the seed's course: 1 MiB chunks, ids = MD5 +
 * index, a JSON handshake, FormData with `file` appended first, one chunk at a time, `data` read
 * as "what is still needed", and the link built by the client itself and opened at once.
 */
import assert from 'node:assert/strict';
import { after, before, it } from 'node:test';
import { md5, randomBytesSeeded } from './helpers/bytes.js';
import { startTestServer, type TestServer } from './helpers/server.js';

let srv: TestServer;
before(async () => {
  srv = await startTestServer();
});
after(() => srv.close());

async function courseUpload(base: string, file: Buffer, ext: string): Promise<string> {
  const CHUNK = 1024 * 1024;
  const chunks: { id: string; blob: Blob }[] = [];
  for (let i = 0; i * CHUNK < file.length; i++) {
    const part = file.subarray(i * CHUNK, (i + 1) * CHUNK);
    chunks.push({ id: md5(part) + i, blob: new Blob([part as Uint8Array<ArrayBuffer>]) });
  }
  const fileId = md5(file);
  const hs = await fetch(`${base}/api/upload/handshake`, {
    method: 'POST',
    headers: { 'Content-Type': 'application/json', Origin: 'http://course-page.example' },
    body: JSON.stringify({ fileId, ext, chunkIds: chunks.map((c) => c.id) }),
  });
  assert.equal(hs.headers.get('access-control-allow-origin'), '*');
  let resp = (await hs.json()) as { code: number; data: string | string[] };
  assert.equal(resp.code, 0);
  while (Array.isArray(resp.data) && resp.data.length > 0) {
    const id = resp.data[0]!;
    const chunk = chunks.find((c) => c.id === id);
    assert.ok(chunk, `server asked for a chunk the client never announced: ${id}`);
    const form = new FormData();
    form.append('file', chunk.blob);
    form.append('chunkId', chunk.id);
    form.append('fileId', fileId);
    const r = await fetch(`${base}/api/upload`, { method: 'POST', body: form });
    resp = (await r.json()) as typeof resp;
    assert.equal(resp.code, 0, JSON.stringify(resp));
  }
  if (typeof resp.data === 'string') return resp.data;
  const { host } = new URL(base);
  return `http://${host}/upload/${fileId}${ext}`;
}

it('the course client uploads a file with repeated chunks, then opens the link it built', async () => {
  const one = randomBytesSeeded(1024 * 1024, 21);
  // Chunks 0 and 3 have the same bytes (so the same MD5); their ids differ by the index.
  const file = Buffer.concat([
    one,
    randomBytesSeeded(2 * 1024 * 1024, 22),
    one,
    randomBytesSeeded(500_000, 23),
  ]);
  const link = await courseUpload(srv.url, file, '.mp4');
  const res = await fetch(link);
  assert.equal(res.status, 200);
  assert.equal(res.headers.get('content-type'), 'video/mp4');
  assert.equal(md5(Buffer.from(await res.arrayBuffer())), md5(file));
  // The second time is an instant upload and the handshake hands the link over.
  const again = await courseUpload(srv.url, file, '.mp4');
  assert.equal(again, link);
});
