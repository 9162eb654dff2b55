/**
 * Load with crashes and a hostile network: 50 clients upload distinct files and 10 clients upload
 * the same file at once, while 20 clients download library files as parallel ranges, all through
 * a proxy that cuts, stalls and slows connections at random; the server is killed with SIGKILL
 * three times at random moments and restarted on the same port. Every upload must end with the
 * right MD5, every download byte-exact, and a watcher that polls the upload URLs directly must
 * never be served a file whose MD5 is not its id (nothing unverified is ever served).
 */
import assert from 'node:assert/strict';
import { mkdir, readFile, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { after, it } from 'node:test';
import { download, upload } from '../../src/client/node/index.js';
import { md5, md5File, writeRandomFile } from '../helpers/bytes.js';
import { type ChildServer, killAllServers, spawnServer } from '../helpers/child-server.js';
import { startProxy } from '../helpers/flaky-proxy.js';
import { freePort } from '../helpers/ports.js';
import { tempDir } from '../helpers/server.js';
import { countingFetch, figures, saveFigures } from './report.js';

const KiB = 1024;
const MiB = 1024 * KiB;
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

after(() => killAllServers());

it('50 + 10 uploads and 20 downloads survive 3 SIGKILLs and a flaky network, byte-exact', {
  timeout: 300_000,
}, async () => {
  const f = figures();
  const dir = await tempDir('rt-chaos-');
  const dataDir = join(dir, 'data');
  const libDir = join(dir, 'lib');
  const srcDir = join(dir, 'src');
  const outDir = join(dir, 'out');
  await Promise.all([libDir, srcDir, outDir].map((d) => mkdir(d, { recursive: true })));
  const port = await freePort();
  // Every client comes through the one proxy (one address): no per-client connection cap.
  const args = [
    '--port',
    String(port),
    '--library',
    libDir,
    '--log-level',
    'error',
    '--max-connections-per-client',
    '0',
  ];
  let server: ChildServer = await spawnServer(dataDir, args);
  const direct = server.url;
  const proxy = await startProxy(direct, {
    cutChance: 0.01,
    stallChance: 0.005,
    stallMs: 1500,
    slowChance: 0.1,
    slowRate: 1 * MiB,
  });
  const fetchCounted = countingFetch(f);
  const retry = { retries: 80, minDelay: 50, maxDelay: 1000, fetch: fetchCounted };
  // Stop the watcher and the killer however the test ends (a failure left them looping forever).
  let watching = true;
  let finished = false;
  try {
    // The files: 50 distinct (0.5–3 MiB), one shared (6 MiB), four library files (16 MiB).
    const distinct = await Promise.all(
      Array.from({ length: 50 }, async (_, i) => {
        const path = join(srcDir, `d${i}.bin`);
        const size = 512 * KiB + Math.floor(Math.random() * 5 * 512 * KiB);
        return { path, size, fileId: await writeRandomFile(path, size, 1000 + i) };
      }),
    );
    const shared = {
      path: join(srcDir, 'shared.bin'),
      fileId: await writeRandomFile(join(srcDir, 'shared.bin'), 6 * MiB, 999),
    };
    const library = await Promise.all(
      Array.from({ length: 4 }, async (_, i) => ({
        name: `lib${i}.bin`,
        md5: await writeRandomFile(join(libDir, `lib${i}.bin`), 16 * MiB, 500 + i),
      })),
    );

    // The watcher: anything served under /upload/ must be the whole, verified file.
    let violations = 0;
    let watchedServes = 0;
    const watcher = (async () => {
      const pending = new Set(distinct.map((d) => d.fileId).concat(shared.fileId));
      while (watching && pending.size > 0) {
        for (const id of [...pending]) {
          try {
            const res = await fetch(`${direct}/upload/${id}.bin`);
            if (res.status === 200) {
              const got = md5(new Uint8Array(await res.arrayBuffer()));
              watchedServes++;
              if (got !== id) violations++;
              pending.delete(id);
            } else await res.body?.cancel();
          } catch {
            // the server is down for a moment
          }
        }
        await sleep(50);
      }
    })();

    // The killer: three SIGKILLs at random moments, each followed by a restart on the same port.
    let kills = 0;
    const killer = (async () => {
      for (let i = 0; i < 3 && !finished; i++) {
        await sleep(400 + Math.random() * 1200);
        await server.kill();
        kills++;
        await sleep(200 + Math.random() * 500);
        server = await spawnServer(dataDir, args);
      }
    })();

    const uploads = [
      ...distinct.map((d) =>
        upload(d.path, {
          server: proxy.url,
          chunkSize: 256 * KiB,
          concurrency: 3,
          hashCache: false,
          ...retry,
        }),
      ),
      ...Array.from({ length: 10 }, () =>
        upload(shared.path, {
          server: proxy.url,
          chunkSize: 512 * KiB,
          concurrency: 3,
          hashCache: false,
          ...retry,
        }),
      ),
    ];
    const downloads = Array.from({ length: 20 }, (_, i) => {
      const lib = library[i % library.length]!;
      return download(`${proxy.url}/download/${lib.name}`, {
        destination: join(outDir, `${i}-${lib.name}`),
        connections: 4,
        checkpointInterval: 500,
        ...retry,
      });
    });
    // Every transfer settles before the first failure is thrown: the folder is removed after, and a
    // download still running then would fail for that instead (and keep the process alive).
    const [ups, downs] = await Promise.all([Promise.allSettled(uploads), Promise.allSettled(downloads)]);
    const failed = [...ups, ...downs].find((r) => r.status === 'rejected');
    if (failed) throw failed.reason;
    const upResults = ups.map((r) => (r as PromiseFulfilledResult<Awaited<(typeof uploads)[number]>>).value);
    const downResults = downs.map(
      (r) => (r as PromiseFulfilledResult<Awaited<(typeof downloads)[number]>>).value,
    );
    finished = true;
    await killer;
    watching = false;
    await watcher;

    // Every upload: the right id, and the URL serves exactly the file.
    for (const [i, r] of upResults.entries()) {
      const expected = i < distinct.length ? distinct[i]!.fileId : shared.fileId;
      assert.equal(r.fileId, expected);
      const body = new Uint8Array(
        await (await fetch(new URL(r.url, direct).href.replace(proxy.url, direct))).arrayBuffer(),
      );
      const size = i < distinct.length ? distinct[i]!.size : 6 * MiB;
      if (md5(body) !== expected) f.bytesLost += size;
      f.transfersFinished++;
    }
    for (const [i, path] of downResults.entries()) {
      const lib = library[i % library.length]!;
      if ((await md5File(path)) !== lib.md5) f.bytesLost += (await readFile(path)).length;
      f.transfersFinished++;
    }
    f.faults = { sigkill: kills, cut: proxy.cuts, stall: proxy.stalls, slowed: proxy.slowed };
    f.notes.push(`${watchedServes} early serves checked, ${violations} unverified`);
    await saveFigures('load-crash', f);
    assert.equal(kills, 3, 'the server was killed three times');
    assert.ok(proxy.cuts > 0, 'the proxy cut connections');
    assert.equal(violations, 0, 'nothing unverified was ever served');
    assert.equal(f.bytesLost, 0);
    assert.equal(f.transfersFinished, 80);
  } finally {
    watching = false;
    finished = true;
    await proxy.close();
    await server.kill();
    await rm(dir, { recursive: true, force: true });
  }
});
