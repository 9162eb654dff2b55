/**
 * kill -9 at random instants during uploads and assembly, then restart on the same data: every
 * acknowledged chunk is still held, nothing partial or unverified is ever served, uploads finish.
 */
import assert from 'node:assert/strict';
import { mkdir, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { after, before, it } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { getJson, handshake, sendChunk } from './helpers/api.js';
import { cut, md5, randomBytesSeeded } from './helpers/bytes.js';
import { type ChildServer, killAllServers, spawnServer } from './helpers/child-server.js';
import { tempDir } from './helpers/server.js';

let dataDir: string;
let libDir: string;
let server: ChildServer | undefined;
before(async () => {
  dataDir = await tempDir('rt-crash-');
  libDir = join(dataDir, 'lib');
  await mkdir(libDir);
});
after(async () => {
  killAllServers();
  await rm(dataDir, { recursive: true, force: true });
});

const start = async () => {
  server = await spawnServer(dataDir, ['--library', libDir]);
  return server.url;
};

/** What /upload serves must be nothing (404) or exactly the verified file. */
async function assertNothingPartialServed(url: string, fileId: string) {
  const res = await fetch(`${url}/upload/${fileId}.bin`);
  const body = Buffer.from(await res.arrayBuffer());
  if (res.status === 404) return false;
  assert.equal(res.status, 200);
  assert.equal(md5(body), fileId, 'a served file is always the whole, verified file');
  return true;
}

it('acknowledged chunks survive SIGKILL; the upload resumes and finishes', async () => {
  const c = cut(randomBytesSeeded(48 * 256 * 1024, 41), 256 * 1024);
  const acked = new Set<string>();
  let finished = false;
  let interrupted = 0;
  for (let round = 0; round < 4 && !finished; round++) {
    const url = await start();
    assert.equal(await assertNothingPartialServed(url, c.fileId), false);
    if (round > 0) {
      const st = await getJson(`${url}/api/upload/${c.fileId}`);
      const held = new Set((st.body.data as { held: string[] }).held);
      for (const id of acked) assert.ok(held.has(id), `acknowledged chunk ${id} lost after kill -9`);
    }
    const hs = await handshake(url, { fileId: c.fileId, ext: '.bin', chunkIds: c.chunkIds });
    if (typeof hs.body.data === 'string') {
      finished = true;
      break;
    }
    const queue = [...(hs.body.data as string[])];
    // Kill after a random number of acknowledged chunks (plus a random few ms), in the first rounds.
    const killAfter = round < 3 ? acked.size + 3 + Math.floor(Math.random() * 8) : Number.POSITIVE_INFINITY;
    let reached: () => void = () => undefined;
    const killPoint = new Promise<void>((r) => {
      reached = r;
    });
    const uploading = Promise.all(
      Array.from({ length: 4 }, async () => {
        for (let id = queue.shift(); id !== undefined; id = queue.shift()) {
          const i = c.chunkIds.indexOf(id);
          try {
            const a = await sendChunk(url, { fileId: c.fileId, chunkId: id, file: c.chunks[i]! });
            if (a.status === 200) acked.add(id);
            if (acked.size >= killAfter) reached();
            if (a.body.url) finished = true;
          } catch {
            return; // the server died under us
          }
        }
      }),
    );
    if (Number.isFinite(killAfter)) {
      await Promise.race([uploading, killPoint.then(() => sleep(Math.random() * 20))]);
      if (queue.length > 0) interrupted++;
      await server!.kill();
    }
    await uploading;
    if (!finished) continue;
  }
  assert.ok(finished, 'the upload finished after the crashes');
  assert.ok(interrupted >= 1, 'at least one kill landed in the middle of the upload');
  const url = server!.alive() ? server!.url : await start();
  assert.equal(await assertNothingPartialServed(url, c.fileId), true);
  await server!.kill();
});

it('SIGKILL around the last chunk (during assembly) never exposes a partial file', async () => {
  for (let attempt = 0; attempt < 3; attempt++) {
    const c = cut(randomBytesSeeded(24 * 1024 * 1024, 50 + attempt), 8 * 1024 * 1024);
    let url = await start();
    await handshake(url, { fileId: c.fileId, ext: '.bin', chunkIds: c.chunkIds });
    for (let i = 0; i < c.chunks.length - 1; i++) {
      await sendChunk(url, { fileId: c.fileId, chunkId: c.chunkIds[i]!, file: c.chunks[i]! });
    }
    const last = c.chunks.length - 1;
    const pending = sendChunk(url, {
      fileId: c.fileId,
      chunkId: c.chunkIds[last]!,
      file: c.chunks[last]!,
    }).catch(() => undefined);
    await sleep(20 + attempt * 40);
    await server!.kill();
    await pending;
    url = await start();
    await assertNothingPartialServed(url, c.fileId);
    // A handshake finds every chunk held (or the file published) and hands over the link.
    const hs = await handshake(url, { fileId: c.fileId, ext: '.bin', chunkIds: c.chunkIds });
    if (Array.isArray(hs.body.data)) {
      assert.deepEqual(hs.body.data, [c.chunkIds[last]], 'only the unacknowledged chunk can be missing');
      const a = await sendChunk(url, { fileId: c.fileId, chunkId: c.chunkIds[last]!, file: c.chunks[last]! });
      assert.ok(a.body.url);
    } else {
      assert.equal(hs.body.data, `${url}/upload/${c.fileId}.bin`);
    }
    assert.equal(await assertNothingPartialServed(url, c.fileId), true);
    await server!.kill();
  }
});
