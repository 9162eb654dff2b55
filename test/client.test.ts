/** The Node client library against the real server (and a few deliberately odd servers). */
import assert from 'node:assert/strict';
import { mkdir, rename, rm, writeFile } from 'node:fs/promises';
import { createServer, type Server } from 'node:http';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { download, FileHashCache, TransferError, upload } from '../src/client/node/index.js';
import { md5, md5File, randomBytesSeeded, writeRandomFile } from './helpers/bytes.js';
import { killAllServers, spawnServer } from './helpers/child-server.js';
import { startProxy } from './helpers/flaky-proxy.js';
import { freePort } from './helpers/ports.js';
import { startTestServer, type TestServer, tempDir } from './helpers/server.js';

let srv: TestServer;
let work: string;
let lib: string;
let cache: FileHashCache;
const fast = { minDelay: 20, maxDelay: 200 };

before(async () => {
  work = await tempDir('rt-client-');
  lib = join(work, 'lib');
  await mkdir(lib);
  cache = new FileHashCache(join(work, 'cache'));
  srv = await startTestServer({ libraryDirs: [lib] });
});
after(async () => {
  killAllServers();
  await srv.close();
  await rm(work, { recursive: true, force: true });
});

describe('upload', () => {
  it('round trip: upload, then download the URL, MD5 equal; the second upload is instant', async () => {
    const path = join(work, 'round.bin');
    const sum = await writeRandomFile(path, 9 * 1024 * 1024 + 123, 101);
    const phases = new Set<string>();
    const r = await upload(path, {
      server: srv.url,
      hashCache: cache,
      chunkSize: 1024 * 1024,
      onProgress: (p) => phases.add(p.phase),
    });
    assert.equal(r.fileId, sum);
    assert.equal(r.instant, false);
    assert.equal(r.bytesSent, 9 * 1024 * 1024 + 123);
    assert.deepEqual([...phases], ['hashing', 'uploading', 'done']);
    const out = await download(r.url, { destination: join(work, 'round.out') });
    assert.equal(await md5File(out), sum);
    const again = await upload(path, { server: srv.url, hashCache: cache, chunkSize: 1024 * 1024 });
    assert.equal(again.instant, true);
    assert.equal(again.bytesSent, 0);
    assert.equal(again.hashCached, true);
    assert.equal(again.url, r.url);
  });

  it('abort mid-upload, then resume: fewer bytes sent, no re-hash', async () => {
    const path = join(work, 'abort.bin');
    const size = 24 * 1024 * 1024;
    const sum = await writeRandomFile(path, size, 102);
    const proxy = await startProxy(srv.url, { rate: 0 });
    const ctl = new AbortController();
    let uploadedBeforeAbort = 0;
    await assert.rejects(
      upload(path, {
        server: proxy.url,
        hashCache: cache,
        chunkSize: 1024 * 1024,
        concurrency: 2,
        signal: ctl.signal,
        onProgress: (p) => {
          if (p.phase === 'uploading' && p.bytesDone >= size / 3 && !ctl.signal.aborted) {
            uploadedBeforeAbort = p.bytesDone;
            ctl.abort();
          }
        },
      }),
      (e: unknown) => e instanceof TransferError && e.code === 'ABORTED',
    );
    await proxy.close();
    assert.ok(uploadedBeforeAbort > 0);
    let hashed = false;
    const r = await upload(path, {
      server: srv.url,
      hashCache: cache,
      chunkSize: 1024 * 1024,
      onProgress: (p) => {
        if (p.phase === 'hashing') hashed = true;
      },
    });
    assert.equal(r.hashCached, true);
    assert.equal(hashed, false, 'the unchanged file was not hashed again');
    assert.ok(r.bytesSent <= size - uploadedBeforeAbort + 2 * 1024 * 1024, `sent ${r.bytesSent} of ${size}`);
    assert.ok(r.bytesSent < size);
    const body = Buffer.from(await (await fetch(r.url)).arrayBuffer());
    assert.equal(md5(body), sum);
  });

  it('the server is killed and restarted mid-upload: the same call finishes', async () => {
    const data = await tempDir('rt-client-srv-');
    const port = await freePort();
    const server = await spawnServer(data, ['--port', String(port), '--library', lib]);
    const path = join(work, 'restart.bin');
    const sum = await writeRandomFile(path, 32 * 1024 * 1024, 103);
    const proxy = await startProxy(server.url, { rate: 0 });
    let killed: Promise<void> | undefined;
    const pending = upload(path, {
      server: `http://127.0.0.1:${port}`,
      hashCache: false,
      chunkSize: 1024 * 1024,
      concurrency: 2,
      // Enough retries to outlast a restart that takes many seconds on a busy machine (seen: a
      // 31-attempt budget of fast retries ran out while the new process was still starting).
      minDelay: 100,
      maxDelay: 1000,
      retries: 90,
      onProgress: (p) => {
        if (p.phase === 'uploading' && p.bytesDone > 8 * 1024 * 1024 && !killed) {
          killed = (async () => {
            await server.kill();
            await sleep(500);
            await spawnServer(data, ['--port', String(port), '--library', lib]);
          })();
        }
      },
    });
    const r = await pending;
    await killed;
    await proxy.close();
    assert.ok(killed, 'the server was killed during the upload');
    assert.equal(r.fileId, sum);
    assert.equal(md5(Buffer.from(await (await fetch(r.url)).arrayBuffer())), sum);
    killAllServers();
  });

  it('a flaky network (connections cut at random) still uploads correctly', async () => {
    const path = join(work, 'flaky-up.bin');
    const sum = await writeRandomFile(path, 16 * 1024 * 1024, 104);
    const proxy = await startProxy(srv.url, { cutChance: 0.03 });
    try {
      const r = await upload(path, {
        server: proxy.url,
        hashCache: false,
        chunkSize: 512 * 1024,
        retries: 50,
        ...fast,
      });
      assert.ok(proxy.cuts > 0, 'the proxy did cut connections');
      // The link names the host the client used (the proxy); fetch it from the server itself.
      const direct = r.url.replace(proxy.url, srv.url);
      assert.equal(md5(Buffer.from(await (await fetch(direct)).arrayBuffer())), sum);
    } finally {
      await proxy.close();
    }
  });

  it('server errors carry the stable code; 4xx are not retried', async () => {
    let calls = 0;
    const fake: typeof fetch = async (input) => {
      // The question for the server's limits (GET /api/version) comes first; a 400 there only
      // means a server without it. Count the handshake's.
      if (!String(input).endsWith('/api/version')) calls++;
      return new Response(JSON.stringify({ code: 400, msg: 'x', data: null, error: 'INVALID_EXT' }), {
        status: 400,
      });
    };
    const path = join(work, 'tiny.bin');
    await writeFile(path, 'tiny');
    await assert.rejects(upload(path, { server: 'http://fake', fetch: fake, hashCache: false }), {
      code: 'INVALID_EXT',
      status: 400,
    });
    assert.equal(calls, 1);
    let flaky = 0;
    const unavailable: typeof fetch = async () => {
      flaky++;
      return new Response(JSON.stringify({ code: 503, msg: 'x', data: null, error: 'SHUTTING_DOWN' }), {
        status: 503,
      });
    };
    await assert.rejects(
      upload(path, { server: 'http://fake', fetch: unavailable, hashCache: false, retries: 3, ...fast }),
      {
        code: 'RETRIES_EXHAUSTED',
      },
    );
    assert.equal(flaky, 4, '5xx retried');
  });
});

describe('download', () => {
  it('parallel ranges through a flaky network: correct bytes', async () => {
    const sum = await writeRandomFile(join(lib, 'flaky.bin'), 24 * 1024 * 1024, 105);
    const proxy = await startProxy(srv.url, { cutChance: 0.03 });
    try {
      const out = await download(`${proxy.url}/download/flaky.bin`, {
        destination: work,
        connections: 4,
        retries: 50,
        ...fast,
      });
      assert.equal(out, join(work, 'flaky.bin'));
      assert.ok(proxy.cuts > 0);
      assert.equal(await md5File(out), sum);
    } finally {
      await proxy.close();
    }
  });

  it('aborted, then the file is replaced on the server: the next call restarts and ends with the new bytes', async () => {
    const path = join(lib, 'changing.bin');
    await writeRandomFile(path, 16 * 1024 * 1024, 106);
    const proxy = await startProxy(srv.url, { rate: 4 * 1024 * 1024 });
    const dest = join(work, 'changing.out');
    const ctl = new AbortController();
    await assert.rejects(
      download(`${proxy.url}/download/changing.bin`, {
        destination: dest,
        signal: ctl.signal,
        onProgress: (p) => {
          if (p.bytesDone > 2 * 1024 * 1024) ctl.abort();
        },
      }),
      { code: 'ABORTED' },
    );
    await proxy.close();
    const newSum = await writeRandomFile(`${path}.new`, 12 * 1024 * 1024, 107);
    await rename(`${path}.new`, path);
    let restarted = false;
    await download(`${srv.url}/download/changing.bin`, {
      destination: dest,
      onProgress: (p) => {
        if (p.restarted) restarted = true;
      },
    });
    assert.ok(restarted, 'the change was noticed and reported');
    assert.equal(await md5File(dest), newSum);
  });

  it('a server that ignores Range and sends no validator still works', async () => {
    const body = randomBytesSeeded(3 * 1024 * 1024 + 7, 108);
    let gets = 0;
    const plain: Server = createServer((req, res) => {
      if (req.method === 'GET') gets++;
      res.writeHead(200, { 'content-length': body.length, 'content-type': 'application/octet-stream' });
      res.end(req.method === 'HEAD' ? undefined : body);
    });
    await new Promise<void>((r) => plain.listen(0, '127.0.0.1', r));
    try {
      const { port } = plain.address() as { port: number };
      const out = await download(`http://127.0.0.1:${port}/files/plain.bin`, {
        destination: work,
        connections: 4,
      });
      assert.equal(out, join(work, 'plain.bin'));
      assert.equal(await md5File(out), md5(body));
      assert.equal(gets, 1, 'one stream, not four ranges');
    } finally {
      plain.close();
    }
  });

  it('a 416 on resume is not taken for "done": a broken server never yields a short file', async () => {
    const body = randomBytesSeeded(4 * 1024 * 1024, 109);
    let requests = 0;
    const broken: Server = createServer((req, res) => {
      requests++;
      const headers = { etag: '"v1"', 'accept-ranges': 'bytes', 'content-type': 'application/octet-stream' };
      if (req.method === 'HEAD') {
        res.writeHead(200, { ...headers, 'content-length': body.length });
        res.end();
        return;
      }
      // Claims the same version but has lost its tail: every range past 1 MiB is unsatisfiable.
      const m = /bytes=(\d+)-(\d+)/.exec(req.headers.range ?? '');
      const start = Number(m?.[1] ?? 0);
      const end = Number(m?.[2] ?? body.length - 1);
      if (start >= 1024 * 1024) {
        res.writeHead(416, { ...headers, 'content-range': `bytes */${body.length}` });
        res.end();
        return;
      }
      res.writeHead(206, {
        ...headers,
        'content-range': `bytes ${start}-${end}/${body.length}`,
        'content-length': end - start + 1,
      });
      res.end(body.subarray(start, end + 1));
    });
    await new Promise<void>((r) => broken.listen(0, '127.0.0.1', r));
    try {
      const { port } = broken.address() as { port: number };
      const dest = join(work, 'broken.out');
      await assert.rejects(download(`http://127.0.0.1:${port}/broken.bin`, { destination: dest, ...fast }), {
        code: 'REMOTE_CHANGED',
      });
      assert.ok(requests > 2);
      await assert.rejects(
        import('node:fs/promises').then((fs) => fs.stat(dest)),
        'no file was published',
      );
    } finally {
      broken.close();
    }
  });
});
