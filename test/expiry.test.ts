/** --expire-after: abandoned incomplete uploads and stray temp files are swept. */
import assert from 'node:assert/strict';
import { readdir, utimes, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { it } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { getJson, handshake, sendChunk } from './helpers/api.js';
import { cut, randomBytesSeeded } from './helpers/bytes.js';
import { startTestServer } from './helpers/server.js';

it('an upload idle longer than --expire-after is deleted; an active one is kept', async () => {
  const srv = await startTestServer({ expireAfterMs: 1500 });
  try {
    const idle = cut(randomBytesSeeded(200_000, 71), 100_000);
    const active = cut(randomBytesSeeded(200_000, 72), 100_000);
    await handshake(srv.url, { fileId: idle.fileId, ext: '.bin', chunkIds: idle.chunkIds });
    await sendChunk(srv.url, { fileId: idle.fileId, chunkId: idle.chunkIds[0]!, file: idle.chunks[0]! });
    await handshake(srv.url, { fileId: active.fileId, ext: '.bin', chunkIds: active.chunkIds });
    const stray = join(srv.dataDir, 'tmp', 'stray.chunk');
    await writeFile(stray, 'left by nobody');
    const old = new Date(Date.now() - 3_600_000);
    await utimes(stray, old, old);
    for (let t = 0; t < 6; t++) {
      await sleep(500);
      // Keep the active one busy.
      await handshake(srv.url, { fileId: active.fileId, ext: '.bin', chunkIds: active.chunkIds });
    }
    assert.equal((await getJson(`${srv.url}/api/upload/${idle.fileId}`)).status, 404, 'idle upload swept');
    assert.equal((await getJson(`${srv.url}/api/upload/${active.fileId}`)).status, 200, 'active upload kept');
    assert.deepEqual(await readdir(join(srv.dataDir, 'tmp')), [], 'stray temp file swept');
  } finally {
    await srv.close();
  }
});
