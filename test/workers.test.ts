/**
 * `serve --workers 2`: two processes share the port; the owner handles uploads and the reader
 * forwards them to it. Uploads finish whichever process a connection lands on, downloads are
 * served by both, a killed worker is started again, and SIGTERM stops everything.
 */
import assert from 'node:assert/strict';
import { once } from 'node:events';
import { mkdir, rm } from 'node:fs/promises';
import { get } from 'node:http';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { upload } from '../src/client/node/index.js';
import { restartDelay } from '../src/server/workers.js';
import { handshake, sendChunk } from './helpers/api.js';
import { md5, randomBytesSeeded, writeRandomFile } from './helpers/bytes.js';
import { type ChildServer, killAllServers, spawnServer } from './helpers/child-server.js';
import { answeringWorkers } from './helpers/health.js';
import { emptyPrefix, s3Endpoint, s3ServeArgs, s3Storage } from './helpers/s3.js';
import { tempDir } from './helpers/server.js';

/** Headers that put a fetch on a new connection: over several, the workers all take part. */
const FRESH = { connection: 'close' };

let dir: string;
let server: ChildServer;
before(async () => {
  dir = await tempDir('rt-workers-');
  await mkdir(join(dir, 'lib'));
  server = await spawnServer(join(dir, 'data'), ['--workers', '2']);
});
after(async () => {
  killAllServers();
  await rm(dir, { recursive: true, force: true });
});

/** The processes answering, by role (the last pid seen for each). */
async function workers(base = server.url): Promise<Map<string, number>> {
  const byRole = new Map<string, number>();
  for (const [pid, role] of await answeringWorkers(base)) byRole.set(role, pid);
  return byRole;
}

it('two processes answer on the one port: the owner and a reader', async () => {
  const seen = await workers();
  assert.deepEqual([...seen.keys()].sort(), ['owner', 'reader']);
  assert.notEqual(seen.get('owner'), seen.get('reader'));
});

it('uploads finish whichever process their connections land on, and both serve the result', async () => {
  const files = await Promise.all(
    [0, 1, 2].map(async (i) => {
      const path = join(dir, `up${i}.bin`);
      return { path, fileId: await writeRandomFile(path, 6 * 1024 * 1024 + i * 777, 40 + i) };
    }),
  );
  const results = await Promise.all(
    files.map((f) =>
      upload(f.path, { server: server.url, chunkSize: 1024 * 1024, concurrency: 4, hashCache: false }),
    ),
  );
  for (const [i, r] of results.entries()) {
    assert.equal(r.fileId, files[i]!.fileId);
    // Fresh connections: across the tries, both processes serve the file.
    for (let k = 0; k < 4; k++) {
      const res = await fetch(r.url, { headers: { range: 'bytes=1000-', ...FRESH } });
      assert.equal(res.status, 206);
      const tail = Buffer.from(await res.arrayBuffer());
      assert.equal(tail.length, 6 * 1024 * 1024 + i * 777 - 1000);
    }
  }
});

it('the course client through either process: multipart chunks, and a refused chunk keeps its answer', async () => {
  const data = randomBytesSeeded(3 * 1024 * 1024 + 5, 77);
  const fileId = md5(data);
  const chunks = [0, 1, 2, 3].map((i) => data.subarray(i * 1024 * 1024, (i + 1) * 1024 * 1024));
  const ids = chunks.map((c, i) => md5(c) + i);
  for (let attempt = 0; attempt < 2; attempt++) {
    // Each request on its own connection (fetch honours Connection: close), so both processes
    // take part.
    const hs = await handshake(server.url, { fileId, chunkIds: ids, ext: '.bin' }, FRESH);
    assert.equal(hs.body.code, 0, JSON.stringify(hs.body));
  }
  for (const [i, c] of chunks.entries()) {
    const a = await sendChunk(server.url, { fileId, chunkId: ids[i], file: c }, undefined, FRESH);
    assert.equal(a.status, 200, JSON.stringify(a.body));
  }
  const res = await fetch(`${server.url}/upload/${fileId}.bin`);
  assert.equal(md5(Buffer.from(await res.arrayBuffer())), fileId);
  // A chunk for a file nobody announced: the owner's 404 envelope arrives through the reader too.
  for (let i = 0; i < 4; i++) {
    const a = await sendChunk(
      server.url,
      { fileId: 'f'.repeat(32), chunkId: `${'a'.repeat(32)}0`, file: chunks[0] },
      undefined,
      FRESH,
    );
    assert.equal(a.status, 404);
    assert.equal(a.body.error, 'UPLOAD_NOT_FOUND');
  }
});

it('a killed owner is started again; meanwhile the reader still serves downloads', async () => {
  const before = await workers();
  const owner = before.get('owner')!;
  process.kill(owner, 'SIGKILL');
  await sleep(300);
  // Downloads keep working on the reader while the owner is away (new connections go there).
  const wall = await new Promise<{ status: number; bytes: number }>((resolve, reject) => {
    get(`${server.url}/download/Wallpaper1.jpg`, { agent: false }, (res) => {
      let bytes = 0;
      res.on('data', (b: Buffer) => {
        bytes += b.length;
      });
      res.on('end', () => resolve({ status: res.statusCode ?? 0, bytes }));
    }).on('error', reject);
  });
  assert.equal(wall.status, 200);
  assert.ok(wall.bytes > 100_000);
  let after: Map<string, number> = new Map();
  for (let i = 0; i < 50; i++) {
    await sleep(200);
    after = await workers();
    if (after.get('owner') && after.get('owner') !== owner) break;
  }
  assert.ok(after.get('owner') && after.get('owner') !== owner, 'a new owner runs');
  assert.equal(after.get('reader'), before.get('reader'), 'the reader was not restarted');
  // Uploads work again, whichever process the connections land on.
  const path = join(dir, 'after.bin');
  const fileId = await writeRandomFile(path, 2 * 1024 * 1024 + 3, 99);
  const r = await upload(path, { server: server.url, chunkSize: 512 * 1024, hashCache: false });
  assert.equal(r.fileId, fileId);
});

it('a worker killed while new connections arrive leaves none of them waiting forever', async () => {
  // node:cluster's default hand-off (the primary accepts, then passes the socket) lost a
  // connection passed to a worker as it died: the primary kept it open, unanswered, for ever.
  const victim = (await workers()).get('reader')!;
  const outcomes: string[] = [];
  const one = () =>
    new Promise<void>((resolve) => {
      const req = get(`${server.url}/api/health`, { agent: false }, (res) => {
        res.resume();
        res.on('end', () => {
          outcomes.push(String(res.statusCode));
          resolve();
        });
        res.on('error', () => {
          outcomes.push('cut');
          resolve();
        });
      });
      let hung = false;
      req.setTimeout(5000, () => {
        hung = true;
        req.destroy();
      });
      req.on('error', () => {
        outcomes.push(hung ? 'hung' : 'reset');
        resolve();
      });
    });
  let going = true;
  const streams = Array.from({ length: 4 }, async () => {
    while (going) await one();
  });
  await sleep(300);
  process.kill(victim, 'SIGKILL');
  await sleep(1500);
  going = false;
  await Promise.all(streams);
  assert.ok(outcomes.length > 20, `${outcomes.length} requests`);
  assert.equal(outcomes.filter((o) => o === 'hung').length, 0, `outcomes: ${[...new Set(outcomes)]}`);
  // The last ones, well after the death, were all answered.
  assert.deepEqual(new Set(outcomes.slice(-8)), new Set(['200']));
  for (let i = 0; i < 50; i++) {
    const now = await workers();
    if (now.get('reader') && now.get('reader') !== victim) break;
    await sleep(200);
  }
});

it('when every worker dies at once, the primary stays and starts them all again', async () => {
  const before = await workers();
  assert.equal(before.size, 2);
  for (const pid of before.values()) process.kill(pid, 'SIGKILL');
  let after = new Map<string, number>();
  for (let i = 0; i < 40 && server.alive(); i++) {
    await sleep(500);
    after = await workers();
    if (after.size === 2 && ![...after.values()].some((pid) => [...before.values()].includes(pid))) break;
  }
  assert.ok(server.alive(), 'the primary is still running');
  assert.deepEqual([...after.keys()].sort(), ['owner', 'reader']);
  for (const pid of after.values()) assert.ok(![...before.values()].includes(pid), 'new processes');
});

it('a worker that keeps dying soon after its start is restarted ever more slowly', () => {
  const delays: number[] = [];
  let previous: number | undefined;
  for (let i = 0; i < 8; i++) {
    previous = restartDelay(2000, previous);
    delays.push(previous);
  }
  assert.deepEqual(delays, [1000, 2000, 4000, 8000, 16_000, 30_000, 30_000, 30_000]);
  assert.equal(restartDelay(60_000, 30_000), 1000, 'one that ran a minute starts again at once');
});

it('SIGTERM stops the workers and the primary exits 0', async () => {
  assert.ok(server.alive(), 'the primary runs');
  const pids = [...(await workers()).values()];
  assert.equal(pids.length, 2);
  const exited = once(server.proc, 'exit');
  server.proc.kill('SIGTERM');
  const [code] = (await exited) as [number | null];
  assert.equal(code, 0);
  for (const pid of pids) assert.throws(() => process.kill(pid, 0), 'the worker is gone');
});

const ep = s3Endpoint();
describe('--workers over S3 storage', { skip: typeof ep === 'string' ? ep : false }, () => {
  it('every worker is a peer that takes uploads itself (no upload state in a process)', async () => {
    if (typeof ep === 'string') return;
    const store = s3Storage(ep);
    const s3 = await spawnServer(join(dir, 'data-s3'), [
      ...s3ServeArgs(ep, store.prefix),
      '--library',
      join(dir, 'lib'),
      '--workers',
      '2',
    ]);
    try {
      const seen = await answeringWorkers(s3.url);
      assert.equal(seen.size, 2, 'two processes answer');
      assert.deepEqual([...new Set(seen.values())], ['peer'], 'no owner, no reader');
      const path = join(dir, 's3.bin');
      const fileId = await writeRandomFile(path, 5 * 1024 * 1024 + 11, 71);
      const r = await upload(path, {
        server: s3.url,
        chunkSize: 1024 * 1024,
        concurrency: 4,
        hashCache: false,
      });
      assert.equal(r.fileId, fileId);
      const res = await fetch(r.url);
      assert.equal(md5(Buffer.from(await res.arrayBuffer())), fileId);
    } finally {
      await s3.stop();
      await emptyPrefix(store);
      await store.close();
    }
  });
});
