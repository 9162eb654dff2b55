/** Many connections on one upload: each chunk counted once, one assembly, consistent answers. */
import assert from 'node:assert/strict';
import { readdir } from 'node:fs/promises';
import { join } from 'node:path';
import { after, before, it } from 'node:test';
import { handshake, sendChunk } from './helpers/api.js';
import { cut, md5, randomBytesSeeded } from './helpers/bytes.js';
import { startTestServer, type TestServer } from './helpers/server.js';

let srv: TestServer;
let assemblies = 0;
before(async () => {
  srv = await startTestServer();
  const storage = srv.running.storage;
  const original = storage.assemble.bind(storage);
  storage.assemble = (fileId, options) => {
    assemblies++;
    return original(fileId, options);
  };
});
after(() => srv.close());

it('16 chunks of one file uploaded at the same time', async () => {
  assemblies = 0;
  const c = cut(randomBytesSeeded(16 * 200_000, 31), 200_000);
  await handshake(srv.url, { fileId: c.fileId, ext: '.bin', chunkIds: c.chunkIds });
  const answers = await Promise.all(
    c.chunks.map((chunk, i) =>
      sendChunk(srv.url, { fileId: c.fileId, chunkId: c.chunkIds[i]!, file: chunk }),
    ),
  );
  for (const [i, a] of answers.entries()) {
    assert.equal(a.status, 200);
    const data = a.body.data as string[];
    assert.ok(!data.includes(c.chunkIds[i]!), 'an answer never asks again for the chunk it just took');
    for (const id of data) assert.ok(c.chunkIds.includes(id));
  }
  const done = answers.filter((a) => (a.body.data as string[]).length === 0);
  assert.ok(done.length >= 1);
  for (const a of done) assert.equal(a.body.url, `${srv.url}/upload/${c.fileId}.bin`);
  assert.equal(assemblies, 1, 'exactly one assembly');
  const res = await fetch(`${srv.url}/upload/${c.fileId}.bin`);
  assert.equal(md5(Buffer.from(await res.arrayBuffer())), c.fileId);
});

it('two clients upload the same file at once, in opposite orders, and both get the URL', async () => {
  assemblies = 0;
  const c = cut(randomBytesSeeded(12 * 100_000, 32), 100_000);
  async function client(order: number[]): Promise<string> {
    const hs = await handshake(srv.url, { fileId: c.fileId, ext: '.dat', chunkIds: c.chunkIds });
    if (typeof hs.body.data === 'string') return hs.body.data;
    let url: string | undefined;
    const queue = [...order];
    const workers = Array.from({ length: 4 }, async () => {
      for (let i = queue.shift(); i !== undefined; i = queue.shift()) {
        const a = await sendChunk(srv.url, { fileId: c.fileId, chunkId: c.chunkIds[i]!, file: c.chunks[i]! });
        assert.equal(a.status, 200, JSON.stringify(a.body));
        if (a.body.url) url = a.body.url;
      }
    });
    await Promise.all(workers);
    if (url) return url;
    // This client's chunks were all taken before the other finished: a handshake hands the link.
    const end = await handshake(srv.url, { fileId: c.fileId, ext: '.dat', chunkIds: c.chunkIds });
    return end.body.data as string;
  }
  const forward = c.chunkIds.map((_, i) => i);
  const [a, b] = await Promise.all([client(forward), client([...forward].reverse())]);
  assert.equal(a, `${srv.url}/upload/${c.fileId}.dat`);
  assert.equal(b, a);
  assert.equal(assemblies, 1, 'exactly one assembly');
  const files = (await readdir(join(srv.dataDir, 'files'))).filter((n) => !n.endsWith('.json'));
  assert.ok(files.includes(c.fileId));
  assert.deepEqual(await readdir(join(srv.dataDir, 'tmp')), [], 'no temp data left behind');
  assert.deepEqual(
    await readdir(join(srv.dataDir, 'uploads')).then((l) => l.filter((x) => x === c.fileId)),
    [],
  );
});
