/**
 * Out of disk space: 507 with a clear message; nothing held or published is damaged; the upload
 * finishes once space is freed. Uses a small tmpfs, which needs root: skipped with a message
 * where it cannot be mounted.
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { readdir, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, it } from 'node:test';
import { getJson, handshake, sendChunk } from './helpers/api.js';
import { cut, md5, randomBytesSeeded } from './helpers/bytes.js';
import { startTestServer } from './helpers/server.js';

const MiB = 1024 * 1024;
const mountPoint = mkdtempSync(join(tmpdir(), 'rt-tmpfs-'));
const mounted =
  spawnSync('mount', ['-t', 'tmpfs', '-o', 'size=8m', 'tmpfs', mountPoint], { stdio: 'ignore' }).status === 0;
after(() => {
  if (mounted) spawnSync('umount', ['-l', mountPoint]);
  rmSync(mountPoint, { recursive: true, force: true });
});

it('a full disk answers 507, damages nothing, and the upload finishes after space is freed', {
  skip: mounted ? false : 'cannot mount a tmpfs here (needs root): disk-full behaviour not tested',
}, async () => {
  const srv = await startTestServer({ dataDir: join(mountPoint, 'data'), logLevel: 'error' });
  try {
    const a = cut(randomBytesSeeded(MiB, 301), MiB);
    await handshake(srv.url, { fileId: a.fileId, ext: '.bin', chunkIds: a.chunkIds });
    const pa = await sendChunk(srv.url, { fileId: a.fileId, chunkId: a.chunkIds[0]!, file: a.chunks[0]! });
    assert.ok(pa.body.url);

    const filler = join(mountPoint, 'filler');
    await writeFile(filler, Buffer.alloc(5 * MiB));
    const b = cut(randomBytesSeeded(3 * MiB, 302), MiB);
    await handshake(srv.url, { fileId: b.fileId, ext: '.bin', chunkIds: b.chunkIds });
    const acked: string[] = [];
    let full: Awaited<ReturnType<typeof sendChunk>> | undefined;
    for (const [i, id] of b.chunkIds.entries()) {
      const r = await sendChunk(srv.url, { fileId: b.fileId, chunkId: id, file: b.chunks[i]! });
      if (r.status === 200) acked.push(id);
      else {
        full = r;
        break;
      }
    }
    assert.ok(full, 'the disk filled up');
    assert.equal(full.status, 507);
    assert.equal(full.body.error, 'INSUFFICIENT_STORAGE');
    assert.equal(full.body.msg, '服务器磁盘空间不足，请稍后重试');
    assert.deepEqual(await readdir(join(srv.dataDir, 'tmp')), [], 'no half-written temp file left');

    // What was published and what was held is intact.
    const served = Buffer.from(await (await fetch(pa.body.url!)).arrayBuffer());
    assert.equal(md5(served), a.fileId);
    const st = await getJson(`${srv.url}/api/upload/${b.fileId}`);
    assert.deepEqual((st.body.data as { held: string[] }).held, acked);

    // The operator frees space; the client simply carries on.
    await rm(filler);
    const hs = await handshake(srv.url, { fileId: b.fileId, ext: '.bin', chunkIds: b.chunkIds });
    let url: string | undefined;
    for (const id of hs.body.data as string[]) {
      const i = b.chunkIds.indexOf(id);
      const r = await sendChunk(srv.url, { fileId: b.fileId, chunkId: id, file: b.chunks[i]! });
      assert.equal(r.status, 200, JSON.stringify(r.body));
      url = r.body.url ?? url;
    }
    assert.ok(url);
    assert.equal(md5(Buffer.from(await (await fetch(url)).arrayBuffer())), b.fileId);
  } finally {
    await srv.close();
  }
});
