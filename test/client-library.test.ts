/**
 * The Node client library as tus-js-client users expect it (issue 20, items 7 and 13), against the
 * real server on port 0: the server's chunk limit, Accept-Language and User-Agent, byte-level
 * upload progress, terminate on abort, findPreviousUploads, names and types of custom sources, and
 * the hash cache's place and cleanup.
 */
import assert from 'node:assert/strict';
import { closeSync, openSync, truncateSync, writeSync } from 'node:fs';
import { mkdir, readdir, rm, writeFile } from 'node:fs/promises';
import { createServer, type IncomingHttpHeaders } from 'node:http';
import { homedir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import type { BodyProgressInit } from '../src/client/core/http.js';
import { uploadSource } from '../src/client/core/upload.js';
import { fileSource } from '../src/client/node/file-source.js';
import { httpFetch } from '../src/client/node/http-fetch.js';
import { acceptLanguage, localeTag } from '../src/client/node/identity.js';
import {
  type ByteSource,
  clearHashCache,
  FileHashCache,
  findPreviousUploads,
  hashCacheDir,
  nodeHasher,
  type Progress,
  TransferError,
  terminate,
  upload,
} from '../src/client/node/index.js';
import { nodeSha256 } from '../src/client/node/node-md5.js';
import { md5, memorySource, randomBytesSeeded, writeRandomFile } from './helpers/bytes.js';
import { startProxy } from './helpers/flaky-proxy.js';
import { startTestServer, type TestServer, tempDir } from './helpers/server.js';

const MiB = 1024 * 1024;
const fast = { minDelay: 20, maxDelay: 200 };
let srv: TestServer;
let work: string;
let cache: FileHashCache;

before(async () => {
  work = await tempDir('rt-client-lib-');
  cache = new FileHashCache(join(work, 'cache'));
  srv = await startTestServer();
});
after(async () => {
  await srv.close();
  await rm(work, { recursive: true, force: true });
});

/** The server's count of answers with this status (its /metrics, as Prometheus scrapes it). */
async function answered(server: TestServer, status: number): Promise<number> {
  const text = await (await fetch(`${server.url}/metrics`)).text();
  let total = 0;
  for (const line of text.split('\n')) {
    if (line.startsWith('resumable_http_requests_total{') && line.includes(`status="${status}"`))
      total += Number(line.split(' ').pop());
  }
  return total;
}

describe("the server's chunk limit (item 7)", () => {
  it('/api/version advertises maxChunkSize and maxChunks', async () => {
    const body = (await (await fetch(`${srv.url}/api/version`)).json()) as {
      data: { limits: { maxChunkSize: number; maxChunks: number } };
    };
    assert.equal(body.data.limits.maxChunkSize, 64 * MiB);
    assert.equal(body.data.limits.maxChunks, 100_000);
  });

  it('a client asked for 8 MiB chunks uploads in 1 MiB chunks to a server that takes 1 MiB: no 413', async () => {
    const small = await startTestServer({ maxChunkSize: MiB });
    try {
      const path = join(work, 'limit.bin');
      const size = 5 * MiB + 77;
      const sum = await writeRandomFile(path, size, 71);
      const chunkLengths: number[] = [];
      const r = await upload(path, {
        server: small.url,
        hashCache: cache,
        chunkSize: 8 * MiB,
        onBeforeRequest: (req) => {
          if (req.url.includes('chunkId=')) chunkLengths.push(0);
        },
      });
      assert.equal(r.fileId, sum);
      assert.equal(r.bytesSent, size);
      assert.equal(chunkLengths.length, 6, 'six chunks of 1 MiB (the last 77 bytes)');
      assert.equal(await answered(small, 413), 0, 'the server answered no 413');
      assert.ok((await answered(small, 200)) >= 7, 'the metrics counted the upload');
    } finally {
      await small.close();
    }
  });
});

describe('Accept-Language and User-Agent (item 7)', () => {
  it('the locale: LC_ALL, then LC_MESSAGES, then LANG; C is English', () => {
    assert.equal(localeTag({ LANG: 'zh_CN.UTF-8' }), 'zh-CN');
    assert.equal(localeTag({ LANG: 'zh_CN.UTF-8', LC_MESSAGES: 'en_GB.UTF-8' }), 'en-GB');
    assert.equal(localeTag({ LANG: 'zh_CN.UTF-8', LC_ALL: 'de_DE@euro' }), 'de-DE');
    assert.equal(localeTag({ LANG: 'C.UTF-8' }), 'en');
    assert.equal(localeTag({}), Intl.DateTimeFormat().resolvedOptions().locale);
    assert.equal(acceptLanguage('zh-CN'), 'zh-CN, zh;q=0.9');
    assert.equal(acceptLanguage('en'), 'en');
  });

  it('every request carries them; the caller’s headers win', async () => {
    const seen: IncomingHttpHeaders[] = [];
    const raw = createServer((req, res) => {
      seen.push(req.headers);
      res.writeHead(404, { 'content-type': 'application/json' });
      res.end(JSON.stringify({ code: 404, msg: 'no', data: null, error: 'UPLOAD_NOT_FOUND' }));
    });
    await new Promise<void>((r) => raw.listen(0, '127.0.0.1', r));
    const url = `http://127.0.0.1:${(raw.address() as { port: number }).port}`;
    try {
      await terminate({ fileId: 'a'.repeat(32) }, { server: url });
      await terminate({ fileId: 'a'.repeat(32) }, { server: url, headers: { 'User-Agent': 'mine/1' } });
      const version = (
        JSON.parse(
          await (await import('node:fs/promises')).readFile(
            new URL('../package.json', import.meta.url),
            'utf8',
          ),
        ) as { version: string }
      ).version;
      assert.equal(seen[0]?.['user-agent'], `resumable-transfer/${version} node/${process.versions.node}`);
      assert.ok(seen[0]?.['accept-language'], 'Accept-Language is sent');
      assert.equal(seen[1]?.['user-agent'], 'mine/1');
    } finally {
      raw.close();
    }
  });
});

describe('byte-level upload progress (item 13)', () => {
  it('bytesDone moves within a chunk, never backwards, and ends at the size', async () => {
    const path = join(work, 'bytes.bin');
    const size = 16 * MiB;
    await writeRandomFile(path, size, 72);
    // 4 MiB/s each way: an 8 MiB chunk takes two seconds to leave.
    const proxy = await startProxy(srv.url, { rate: 4 * MiB });
    const uploading: number[] = [];
    try {
      await upload(path, {
        server: proxy.url,
        hashCache: false,
        chunkSize: 8 * MiB,
        concurrency: 1,
        onProgress: (p: Progress) => {
          if (p.phase === 'uploading') uploading.push(p.bytesDone);
        },
      });
    } finally {
      await proxy.close();
    }
    const within = uploading.filter((b) => b % (8 * MiB) !== 0);
    assert.ok(within.length >= 3, `progress inside chunks: ${uploading.join(', ')}`);
    for (let i = 1; i < uploading.length; i++)
      assert.ok(uploading[i]! >= uploading[i - 1]!, `never backwards: ${uploading.join(', ')}`);
    assert.ok(Math.max(...uploading) <= size);
  });

  it('chunks cut mid-way and sent again are not counted twice', async () => {
    const path = join(work, 'cut.bin');
    const size = 12 * MiB;
    await writeRandomFile(path, size, 73);
    const proxy = await startProxy(srv.url, { cutChance: 0.02 });
    const uploading: number[] = [];
    let retries = 0;
    try {
      const r = await upload(path, {
        server: proxy.url,
        hashCache: false,
        chunkSize: MiB,
        concurrency: 2,
        retries: 40,
        ...fast,
        onRetry: () => retries++,
        onProgress: (p) => {
          if (p.phase === 'uploading') uploading.push(p.bytesDone);
        },
      });
      assert.equal(r.fileId, md5(randomBytesSeeded(size, 73)));
    } finally {
      await proxy.close();
    }
    for (let i = 1; i < uploading.length; i++) assert.ok(uploading[i]! >= uploading[i - 1]!);
    assert.ok(Math.max(...uploading) <= size, `at most the size, after ${retries} retries`);
  });
});

describe('terminate (item 13)', () => {
  it('terminateOnAbort: the aborted upload is gone from the server; without it the abort is a pause', async () => {
    const path = join(work, 'term.bin');
    const size = 12 * MiB;
    await writeRandomFile(path, size, 74);
    const proxy = await startProxy(srv.url, { rate: 8 * MiB });
    const abortMidway = (ctl: AbortController) => (p: Progress) => {
      if (p.phase === 'uploading' && p.bytesDone >= 3 * MiB) ctl.abort();
    };
    try {
      const paused = new AbortController();
      await assert.rejects(
        upload(path, {
          server: proxy.url,
          hashCache: cache,
          chunkSize: MiB,
          signal: paused.signal,
          onProgress: abortMidway(paused),
        }),
        (e: unknown) => e instanceof TransferError && e.code === 'ABORTED',
      );
      const asked = { server: srv.url, hashCache: cache, chunkSize: MiB };
      const [kept] = await findPreviousUploads(path, asked);
      assert.equal(kept?.status, 'uploading', 'a plain abort keeps the upload');

      const ctl = new AbortController();
      await assert.rejects(
        upload(path, {
          server: proxy.url,
          hashCache: cache,
          chunkSize: MiB,
          signal: ctl.signal,
          terminateOnAbort: true,
          onProgress: abortMidway(ctl),
        }),
        (e: unknown) => e instanceof TransferError && e.code === 'ABORTED',
      );
      const [gone] = await findPreviousUploads(path, asked);
      assert.equal(gone?.status, 'absent');
      assert.equal(gone?.bytesHeld, 0);
      assert.equal(await terminate(gone!, { server: srv.url }), false, 'nothing left to delete');
    } finally {
      await proxy.close();
    }
  });
});

describe('findPreviousUploads (item 13)', () => {
  it('lists what the cache knows with what the server holds; terminate() deletes it', async () => {
    const path = join(work, 'prev.bin');
    const size = 6 * MiB + 5;
    const sum = await writeRandomFile(path, size, 75);
    assert.deepEqual(await findPreviousUploads(path, { server: srv.url, hashCache: cache }), []);
    const ctl = new AbortController();
    // Through a 4 MiB/s proxy: straight to the server the rest could all be sent before the
    // abort landed (seen on a loaded machine once chunks were no longer fsynced one by one).
    const slow = await startProxy(srv.url, { rate: 4 * MiB });
    try {
      await assert.rejects(
        upload(path, {
          server: slow.url,
          hashCache: cache,
          concurrency: 1,
          chunkSize: MiB,
          signal: ctl.signal,
          onProgress: (p) => {
            if (p.phase === 'uploading' && p.bytesDone >= 2 * MiB) ctl.abort();
          },
        }),
      );
    } finally {
      await slow.close();
    }
    // chunkSize as upload() was given it: the same plan is found.
    const [found, ...more] = await findPreviousUploads(path, {
      server: srv.url,
      hashCache: cache,
      chunkSize: MiB,
    });
    assert.equal(more.length, 0);
    assert.equal(found?.fileId, sum);
    assert.equal(found?.status, 'uploading');
    assert.equal(found?.chunkSize, MiB);
    assert.equal(found?.chunksTotal, 7);
    assert.ok(found.bytesHeld >= 2 * MiB && found.bytesHeld < size, `held ${found.bytesHeld}`);
    assert.equal(found.chunksNeeded, 7 - found.bytesHeld / MiB);
    assert.equal(await terminate(found, { server: srv.url }), true);
    const [after] = await findPreviousUploads(path, { server: srv.url, hashCache: cache, chunkSize: MiB });
    assert.equal(after?.status, 'absent');
    // A finished upload is found complete, with its link.
    const r = await upload(path, { server: srv.url, hashCache: cache, chunkSize: MiB });
    const [done] = await findPreviousUploads(path, { server: srv.url, hashCache: cache, chunkSize: MiB });
    assert.equal(done?.status, 'complete');
    assert.equal(done?.url, r.url);
    assert.equal(done?.chunksNeeded, 0);
  });
});

describe('custom byte sources (item 13)', () => {
  it('the name and, for a name without extension, the MIME type give the link its extension', async () => {
    const png = randomBytesSeeded(3000, 76);
    const typed = await upload(memorySource(png, 'snapshot', 'image/png'), { server: srv.url });
    assert.match(typed.url, /\.png$/);
    const head = await fetch(typed.url, { method: 'HEAD' });
    assert.equal(head.headers.get('content-type'), 'image/png');
    const named = await upload(memorySource(randomBytesSeeded(2000, 77), 'blob'), {
      server: srv.url,
      name: 'report.pdf',
    });
    assert.match(named.url, /\.pdf$/);
    const plain = await upload(memorySource(randomBytesSeeded(1000, 78), 'data'), { server: srv.url });
    assert.match(plain.url, /\.bin$/);
  });
});

describe('a source whose chunks go as Blob bodies (sliceBody: the browser sends File slices)', () => {
  function blobBacked(bytes: Uint8Array, readable: () => boolean): ByteSource {
    const blob = new Blob([bytes as Uint8Array<ArrayBuffer>]);
    return {
      name: 'blob-backed.bin',
      size: bytes.length,
      cacheKey: undefined,
      async *stream() {
        yield bytes;
      },
      slice: async (start, end) => {
        if (!readable()) throw new TransferError('LOCAL_IO', 'the file changed');
        return bytes.subarray(start, end);
      },
      sliceBody: (start, end) => blob.slice(start, end),
    };
  }
  const deps = { hasher: nodeHasher, createSha256: nodeSha256 };

  /** A Blob that counts the bytes read from the one it wraps, by stream() or whole. */
  class ReadCountingBlob extends Blob {
    read = 0;
    // The wrapped Blob's own stream() is read (a Blob subclass may read its bytes its own way).
    constructor(private readonly inner: Blob) {
      super([inner]);
    }
    override stream() {
      return this.inner.stream().pipeThrough(
        new TransformStream<Uint8Array<ArrayBuffer>, Uint8Array<ArrayBuffer>>({
          transform: (part, out) => {
            this.read += part.length;
            out.enqueue(part);
          },
        }),
      );
    }
    override arrayBuffer() {
      this.read += this.size;
      return this.inner.arrayBuffer();
    }
  }

  it('the chunks sent are the Blob slices, and the file arrives whole', async () => {
    const bytes = randomBytesSeeded(700_000, 91);
    const bodies: string[] = [];
    const spy: typeof fetch = (input, init) => {
      if (init?.body instanceof Blob) bodies.push(String(input));
      return fetch(input, init);
    };
    const r = await uploadSource(
      blobBacked(bytes, () => true),
      { server: srv.url, chunkSize: 256 * 1024, fetch: spy },
      deps,
    );
    assert.equal(bodies.length, 3);
    const got = Buffer.from(await (await fetch(r.url)).arrayBuffer());
    assert.equal(md5(got), md5(bytes));
  });

  it("the Node entry's own transport sends such a source's Blob bodies too", async () => {
    const bytes = randomBytesSeeded(600_000, 93);
    const r = await upload(
      blobBacked(bytes, () => true),
      { server: srv.url, chunkSize: 256 * 1024, retries: 0 },
    );
    const got = Buffer.from(await (await fetch(r.url)).arrayBuffer());
    assert.equal(md5(got), md5(bytes));
  });

  it("a file's chunks (fileSource's Blob slices) stream through the Node transport; a cut attempt sends it again, whole", async () => {
    const path = join(work, 'opened-as-blob.bin');
    const size = 9 * MiB + 123;
    const sum = await writeRandomFile(path, size, 94);
    // The first chunk request is cut once 256 KiB of its 4 MiB body were written: the retry must
    // read the Blob again from its start, not go on from where the cut stream stopped.
    let cut = false;
    const cutFirstChunk = ((input: string | URL, init: BodyProgressInit = {}) => {
      if (cut || !String(input).includes('chunkId=')) return httpFetch(input, init);
      cut = true;
      const cutter = new AbortController();
      const cutting: BodyProgressInit = {
        ...init,
        signal: init.signal ? AbortSignal.any([init.signal, cutter.signal]) : cutter.signal,
        onBodyProgress: (written) => {
          init.onBodyProgress?.(written);
          if (written >= 256 * 1024) cutter.abort();
        },
      };
      return httpFetch(input, cutting);
    }) as typeof fetch;
    let retries = 0;
    const r = await upload(path, {
      server: srv.url,
      hashCache: false,
      chunkSize: 4 * MiB,
      fetch: cutFirstChunk,
      ...fast,
      onRetry: () => retries++,
    });
    assert.ok(cut && retries >= 1, `the first chunk was cut and sent again (${retries} retries)`);
    assert.equal(r.fileId, sum);
    const got = Buffer.from(await (await fetch(r.url)).arrayBuffer());
    assert.equal(got.length, size);
    assert.equal(md5(got), sum);
  });

  it("a file's chunk is read from disk as it is sent, never whole before", async () => {
    const path = join(work, 'read-as-sent.bin');
    const size = 16 * MiB + 5;
    const sum = await writeRandomFile(path, size, 95);
    const file = await fileSource(path);
    // Each chunk's body (the file source's own Blob slice) tells how much of it the transport has
    // read; at every progress report the bytes read may lead the bytes written only by what is on
    // its way (a piece: the source reads 1 MiB at a time). Once hashed, nothing else reads the file.
    let uploading = false;
    let readsWhileUploading = 0;
    const { sliceBody } = file;
    const source: ByteSource = {
      ...file,
      slice: (start, end) => {
        if (uploading) readsWhileUploading++;
        return file.slice(start, end);
      },
      sliceBody: sliceBody && ((start, end) => new ReadCountingBlob(sliceBody(start, end))),
    };
    let reports = 0;
    let lead = 0;
    const watching = ((input: string | URL, init: BodyProgressInit = {}) => {
      const body = init.body;
      if (!(body instanceof ReadCountingBlob)) return httpFetch(input, init);
      const reading: BodyProgressInit = {
        ...init,
        onBodyProgress: (written) => {
          init.onBodyProgress?.(written);
          reports++;
          lead = Math.max(lead, body.read - written);
        },
      };
      return httpFetch(input, reading);
    }) as typeof fetch;
    const r = await upload(source, {
      server: srv.url,
      hashCache: false,
      chunkSize: 16 * MiB,
      concurrency: 1,
      fetch: watching,
      onProgress: (p) => {
        uploading ||= p.phase === 'uploading';
      },
    });
    assert.equal(r.fileId, sum);
    assert.equal(readsWhileUploading, 0, 'no chunk was read into memory to be sent');
    assert.ok(reports >= 200, `${reports} progress reports`);
    // Read whole first, a 16 MiB chunk would lead by almost all of it at its first report.
    assert.ok(lead <= MiB, `the reading led the writing by ${lead} bytes`);
  });

  it('a file changed during its upload fails as LOCAL_IO naming it, at once, in the chunk being sent', async () => {
    const size = 12 * MiB;
    // Bytes of the last chunk rewritten (the same size), or the file cut short, while the first
    // chunk is on its way: its body's next read sees the new mtime (or size) and fails there.
    const changes = {
      rewritten: (path: string) => {
        const fd = openSync(path, 'r+');
        writeSync(fd, Buffer.from('changed'), 0, 7, size - MiB);
        closeSync(fd);
      },
      'cut short': (path: string) => truncateSync(path, size - MiB),
    };
    for (const [how, change] of Object.entries(changes)) {
      const path = join(work, `changed-${how.replace(' ', '-')}.bin`);
      await writeRandomFile(path, size, 96);
      let chunkRequests = 0;
      let changed = false;
      const changing = ((input: string | URL, init: BodyProgressInit = {}) => {
        if (!String(input).includes('chunkId=')) return httpFetch(input, init);
        chunkRequests++;
        const changingMidway: BodyProgressInit = {
          ...init,
          onBodyProgress: (written) => {
            init.onBodyProgress?.(written);
            if (changed || written < 256 * 1024) return;
            changed = true;
            change(path);
          },
        };
        return httpFetch(input, changingMidway);
      }) as typeof fetch;
      let retries = 0;
      await assert.rejects(
        upload(path, {
          server: srv.url,
          hashCache: false,
          chunkSize: 4 * MiB,
          concurrency: 1,
          fetch: changing,
          ...fast,
          onRetry: () => retries++,
        }),
        (err: unknown) =>
          err instanceof TransferError &&
          err.code === 'LOCAL_IO' &&
          err.message.startsWith(`${path} changed while uploading`),
        how,
      );
      assert.equal(retries, 0, `${how}: not retried`);
      assert.equal(chunkRequests, 1, `${how}: found in the chunk being sent`);
    }
  });

  it('a chunk the browser could not read (the file changed) fails as LOCAL_IO, without retries', async () => {
    const bytes = randomBytesSeeded(300_000, 92);
    let sends = 0;
    const failing: typeof fetch = (input, init) => {
      if (init?.body instanceof Blob) {
        sends++;
        return Promise.reject(new TypeError('Failed to fetch'));
      }
      return fetch(input, init);
    };
    await assert.rejects(
      uploadSource(
        blobBacked(bytes, () => false),
        { server: srv.url, chunkSize: 256 * 1024, fetch: failing, retryDelays: [0, 0, 0] },
        deps,
      ),
      (err: unknown) => err instanceof TransferError && err.code === 'LOCAL_IO',
    );
    // One attempt per chunk sent at once, none repeated.
    assert.ok(sends >= 1 && sends <= 2, `${sends} sends`);
  });
});

describe('chunks that repeat the same bytes', () => {
  it('are sent once (the server holds one chunk for all their places), and the file arrives byte-exact', async () => {
    const chunk = 256 * 1024;
    const same = randomBytesSeeded(chunk, 96);
    const last = randomBytesSeeded(100_000, 97);
    const bytes = Buffer.concat([same, same, same, same, last]);
    const sent: string[] = [];
    const counting = ((input: string | URL, init?: RequestInit) => {
      const chunkId = new URL(String(input)).searchParams.get('chunkId');
      if (chunkId) sent.push(chunkId);
      return httpFetch(input, init);
    }) as typeof fetch;
    const progress: number[] = [];
    // Four connections: the four places of the repeated chunk could all go at once.
    const r = await upload(memorySource(bytes, 'repeats.bin'), {
      server: srv.url,
      chunkSize: chunk,
      concurrency: 4,
      fetch: counting,
      onProgress: (p) => {
        if (p.phase === 'uploading') progress.push(p.bytesDone);
      },
    });
    assert.deepEqual(sent.map((id) => id.slice(0, 32)).sort(), [md5(same), md5(last)].sort());
    assert.equal(r.bytesSent, chunk + last.length);
    assert.equal(r.fileId, md5(bytes));
    const got = Buffer.from(await (await fetch(r.url)).arrayBuffer());
    assert.equal(md5(got), md5(bytes));
    assert.ok(Math.max(...progress) <= bytes.length, `uploading progress: ${progress.join(', ')}`);
  });
});

describe('the hash cache (item 13)', () => {
  it('lives under XDG_CACHE_HOME (default ~/.cache), or RESUMABLE_CACHE_DIR', () => {
    const saved = { xdg: process.env.XDG_CACHE_HOME, own: process.env.RESUMABLE_CACHE_DIR };
    try {
      delete process.env.RESUMABLE_CACHE_DIR;
      delete process.env.XDG_CACHE_HOME;
      assert.equal(hashCacheDir(), join(homedir(), '.cache', 'resumable-transfer', 'hashes'));
      process.env.XDG_CACHE_HOME = '/tmp/xdg';
      assert.equal(hashCacheDir(), '/tmp/xdg/resumable-transfer/hashes');
      process.env.RESUMABLE_CACHE_DIR = '/tmp/own';
      assert.equal(hashCacheDir(), '/tmp/own');
    } finally {
      for (const [name, value] of [
        ['XDG_CACHE_HOME', saved.xdg],
        ['RESUMABLE_CACHE_DIR', saved.own],
      ] as const) {
        if (value === undefined) delete process.env[name];
        else process.env[name] = value;
      }
    }
  });

  it('clearHashCache() forgets the hashes (the next upload reads the file again), nothing else', async () => {
    const dir = join(work, 'clear-cache');
    const own = new FileHashCache(dir);
    const path = join(work, 'cached.bin');
    await writeRandomFile(path, 2 * MiB, 79);
    await upload(path, { server: srv.url, hashCache: own });
    assert.equal((await upload(path, { server: srv.url, hashCache: own })).hashCached, true);
    await writeFile(join(dir, 'notes.txt'), 'not ours');
    assert.equal(await clearHashCache(dir), 1);
    assert.deepEqual(await readdir(dir), ['notes.txt']);
    assert.equal((await upload(path, { server: srv.url, hashCache: own })).hashCached, false);
    await rm(join(dir, 'notes.txt'));
    assert.equal(await clearHashCache(dir), 1);
    await assert.rejects(readdir(dir), { code: 'ENOENT' }, 'the emptied folder goes too');
    assert.equal(await clearHashCache(join(work, 'never-made')), 0);
    await mkdir(dir);
  });
});
