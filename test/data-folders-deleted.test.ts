/**
 * An operator deletes the data folder's uploads/, tmp/ and files/ under a running server (to clean
 * up, or by mistake): the next uploads work, as after a restart, instead of answering 500 until
 * one. Real server on port 0, real HTTP, the library client, ordinary and deferred uploads.
 */
import assert from 'node:assert/strict';
import { readFile, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { after, before, it } from 'node:test';
import { uploadSource } from '../src/client/core/upload.js';
import { fileSource } from '../src/client/node/file-source.js';
import { nodeHasher, upload } from '../src/client/node/index.js';
import { nodeSha256 } from '../src/client/node/node-md5.js';
import { md5, writeRandomFile } from './helpers/bytes.js';
import { startTestServer, type TestServer, tempDir } from './helpers/server.js';

const MiB = 1024 * 1024;
let server: TestServer;
let dir: string;

before(async () => {
  server = await startTestServer();
  dir = await tempDir();
});

after(async () => {
  await server.close();
  await rm(dir, { recursive: true, force: true });
});

async function wipe(): Promise<void> {
  for (const name of ['uploads', 'tmp', 'files']) {
    await rm(join(server.dataDir, name), { recursive: true, force: true });
  }
}

for (const deferred of [false, true]) {
  it(`an upload after uploads/, tmp/ and files/ were deleted works (deferred: ${deferred})`, async () => {
    await wipe();
    const path = join(dir, `after-wipe-${deferred}.bin`);
    await writeRandomFile(path, 3 * MiB + 17);
    const result = await upload(path, {
      server: server.url,
      chunkSize: MiB,
      deferred,
      retries: 0,
    });
    const res = await fetch(result.url);
    assert.equal(res.status, 200);
    const body = Buffer.from(await res.arrayBuffer());
    assert.equal(md5(body), md5(await readFile(path)));
  });
}

it('an upload half sent when the folders were deleted is sent again whole on resume, not refused', async () => {
  const path = join(dir, 'half.bin');
  await writeRandomFile(path, 6 * MiB, 7);
  const stop = new AbortController();
  let chunks = 0;
  // Three chunks in, the upload is stopped: its plan and chunks are on the server.
  const stopping: typeof fetch = async (input, init) => {
    const res = await fetch(input, init);
    if (String(input).includes('/api/upload?') && ++chunks === 3) stop.abort();
    return res;
  };
  const deps = { hasher: nodeHasher, createSha256: nodeSha256 };
  const options = { server: server.url, chunkSize: MiB, concurrency: 1, deferred: false };
  await assert.rejects(
    uploadSource(await fileSource(path), { ...options, fetch: stopping, signal: stop.signal }, deps),
  );
  await wipe();
  const result = await uploadSource(await fileSource(path), { ...options, fetch, retries: 2 }, deps);
  const body = Buffer.from(await (await fetch(result.url)).arrayBuffer());
  assert.equal(md5(body), md5(await readFile(path)));
});
