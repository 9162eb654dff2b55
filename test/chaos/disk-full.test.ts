/**
 * The disk fills up under load: uploads through the client library meet 507, keep retrying with
 * backoff, the server goes on serving downloads and published files, nothing held is damaged,
 * and every upload finishes once space is freed. Needs root for a small tmpfs; skipped with a
 * message where it cannot be mounted.
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { mkdir, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, it } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { upload } from '../../src/client/node/index.js';
import { md5, writeRandomFile } from '../helpers/bytes.js';
import { killAllServers, spawnServer } from '../helpers/child-server.js';
import { tempDir } from '../helpers/server.js';
import { countingFetch, figures, saveFigures } from './report.js';

const MiB = 1024 * 1024;
const mountPoint = mkdtempSync(join(tmpdir(), 'rt-chaos-tmpfs-'));
const mounted =
  spawnSync('mount', ['-t', 'tmpfs', '-o', 'size=40m', 'tmpfs', mountPoint], { stdio: 'ignore' }).status ===
  0;
after(() => {
  killAllServers();
  if (mounted) spawnSync('umount', ['-l', mountPoint]);
  rmSync(mountPoint, { recursive: true, force: true });
});

it('a disk that fills up under load: 507s, serving goes on, uploads finish after space is freed', {
  skip: mounted ? false : 'cannot mount a tmpfs here (needs root): disk-full chaos not run',
  timeout: 180_000,
}, async () => {
  const f = figures();
  const dir = await tempDir('rt-chaos-full-');
  const lib = join(dir, 'lib');
  await mkdir(lib);
  const libMd5 = await writeRandomFile(join(lib, 'big.bin'), 8 * MiB, 77);
  const server = await spawnServer(join(mountPoint, 'data'), ['--library', lib, '--log-level', 'error']);
  let full = 0;
  const counted = countingFetch(f);
  // A failed assertion must not leave six uploads retrying after the test (unhandled rejections).
  const stop = new AbortController();
  const watchFull: typeof fetch = async (input, init) => {
    const res = await counted(input, init);
    if (res.status === 507) full++;
    return res;
  };
  try {
    // One file published before the disk fills.
    const firstPath = join(dir, 'first.bin');
    const firstMd5 = await writeRandomFile(firstPath, 2 * MiB, 70);
    const first = await upload(firstPath, { server: server.url, hashCache: false, fetch: watchFull });

    const filler = join(mountPoint, 'filler');
    await writeFile(filler, Buffer.alloc(26 * MiB));
    const files = await Promise.all(
      Array.from({ length: 6 }, async (_, i) => {
        const path = join(dir, `u${i}.bin`);
        return { path, md5: await writeRandomFile(path, 3 * MiB, 80 + i) };
      }),
    );
    const uploads = files.map((u) =>
      upload(u.path, {
        server: server.url,
        chunkSize: 512 * 1024,
        hashCache: false,
        retries: 400,
        minDelay: 50,
        maxDelay: 300,
        fetch: watchFull,
        signal: stop.signal,
      }),
    );
    for (const u of uploads) u.catch(() => undefined);
    // Wait until the disk is full, then check that serving goes on.
    for (let i = 0; i < 200 && full === 0; i++) await sleep(50);
    assert.ok(full > 0, 'the uploads met a full disk (507)');
    const lib1 = await fetch(`${server.url}/download/big.bin`);
    assert.equal(md5(new Uint8Array(await lib1.arrayBuffer())), libMd5, 'downloads go on');
    const pub = await fetch(first.url);
    assert.equal(md5(new Uint8Array(await pub.arrayBuffer())), firstMd5, 'published files are intact');
    const health = await fetch(`${server.url}/api/health`);
    assert.equal(health.status, 200);
    await sleep(500);
    await rm(filler);
    const results = await Promise.all(uploads);
    for (const [i, r] of results.entries()) {
      const body = new Uint8Array(await (await fetch(r.url)).arrayBuffer());
      if (md5(body) !== files[i]!.md5) f.bytesLost += body.length;
      f.transfersFinished++;
    }
    f.transfersFinished += 1;
    f.faults = { diskFull507: full };
    await saveFigures('disk-full', f);
    assert.equal(f.bytesLost, 0);
  } finally {
    stop.abort();
    await server.kill();
    await rm(dir, { recursive: true, force: true });
  }
});
