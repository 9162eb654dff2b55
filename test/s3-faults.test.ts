/**
 * A sick object store, through a TCP proxy in front of Ceph RGW (or $S3_ENDPOINT), under the real
 * server: (a) a store that accepts connections and never answers makes the handshake and
 * /upload/ reads answer 503 STORAGE_UNAVAILABLE with Retry-After once the calls' timeouts and
 * retries are spent, never a hung request, while /api/health stays up; once the store answers
 * again, everything works without a restart. (b) A store answering 503 SlowDown for a while is
 * retried, and the request succeeds.
 */
import assert from 'node:assert/strict';
import { mkdir, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { startServer } from '../src/server/app.js';
import { S3Storage, type S3StorageOptions } from '../src/storage/s3/s3.js';
import { handshake, sendChunk } from './helpers/api.js';
import { md5, randomBytesSeeded } from './helpers/bytes.js';
import { emptyPrefix, type S3Endpoint, s3Endpoint, s3Storage } from './helpers/s3.js';
import { type S3FaultProxy, startS3FaultProxy } from './helpers/s3-fault-proxy.js';
import { tempDir } from './helpers/server.js';

const ep = s3Endpoint();

/** The real server over an S3 storage that reaches the store through the proxy. */
async function serverThrough(
  ep: S3Endpoint,
  proxy: S3FaultProxy,
  prefix: string,
  tuning: Partial<S3StorageOptions>,
) {
  const dir = await tempDir('rt-s3-faults-');
  await mkdir(join(dir, 'lib'));
  const storage = new S3Storage({ ...ep, endpoint: proxy.endpoint, prefix, ...tuning });
  const running = await startServer(
    { port: 0, logLevel: 'silent', dataDir: dir, libraryDirs: [join(dir, 'lib')] },
    { storage },
  );
  return {
    url: running.url,
    async close() {
      await running.close();
      await rm(dir, { recursive: true, force: true });
    },
  };
}

/** Uploads one chunk's worth of bytes through the API; returns the file's URL. */
async function uploadSmall(
  base: string,
  seed: number,
): Promise<{ fileId: string; url: string; data: Buffer }> {
  const data = randomBytesSeeded(100_000, seed);
  const fileId = md5(data);
  const chunkId = `${fileId}0`;
  const hs = await handshake(base, { fileId, ext: '.bin', chunkIds: [chunkId] });
  assert.equal(hs.body.code, 0, JSON.stringify(hs.body));
  const sent = await sendChunk(base, { fileId, chunkId, file: data });
  assert.equal(sent.body.code, 0, JSON.stringify(sent.body));
  assert.ok(sent.body.url);
  return { fileId, url: sent.body.url, data };
}

describe('a sick object store', { skip: typeof ep === 'string' ? ep : false, timeout: 120_000 }, () => {
  if (typeof ep === 'string') return;
  let proxy: S3FaultProxy;
  const cleaner = s3Storage(ep);
  before(async () => {
    proxy = await startS3FaultProxy(ep.endpoint);
  });
  after(async () => {
    await proxy.close();
    await emptyPrefix(cleaner);
    await cleaner.close();
  });

  it('never answering: 503 + Retry-After within the timeout bound, health stays up, then recovers', async () => {
    const tuning = { requestTimeoutMs: 1000, connectTimeoutMs: 1000, maxAttempts: 2 };
    // Two attempts of at most 1 s each, the backoff between them (< 1 s), and room for a busy machine.
    const bound = 2 * 1000 + 1000 + 3000;
    const server = await serverThrough(ep, proxy, cleaner.prefix, tuning);
    try {
      const published = await uploadSmall(server.url, 1);
      proxy.hang();
      const started = performance.now();
      const fresh = randomBytesSeeded(1000, 2);
      let stalled = 0;
      const hs = fetch(`${server.url}/api/upload/handshake`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ fileId: md5(fresh), ext: '.bin', chunkIds: [`${md5(fresh)}0`] }),
      }).finally(() => stalled++);
      const read = fetch(published.url).finally(() => stalled++);

      // The process is not stuck behind its store: health answers while both still wait.
      const health = await fetch(`${server.url}/api/health`);
      assert.equal(health.status, 200);
      assert.equal(stalled, 0, 'health answered before the store calls gave up');

      for (const res of [await hs, await read]) {
        assert.equal(res.status, 503);
        assert.equal(res.headers.get('retry-after'), '5');
        assert.equal(((await res.json()) as { error: string }).error, 'STORAGE_UNAVAILABLE');
      }
      const took = performance.now() - started;
      assert.ok(took < bound, `answered after ${Math.round(took)} ms (bound ${bound} ms)`);

      // The store answers again: the same process serves everything, with no restart.
      proxy.recover();
      const again = await fetch(published.url);
      assert.equal(again.status, 200);
      assert.deepEqual(Buffer.from(await again.arrayBuffer()), published.data);
      await uploadSmall(server.url, 3);
    } finally {
      proxy.recover();
      await server.close();
    }
  });

  it('answering 503 SlowDown for a while: retried, and the request succeeds', async () => {
    // The default tuning: three attempts.
    const server = await serverThrough(ep, proxy, cleaner.prefix, {});
    try {
      const published = await uploadSmall(server.url, 4);
      const before = proxy.slowDowns;
      proxy.slowDown(2);
      const res = await fetch(published.url);
      assert.equal(res.status, 200);
      assert.deepEqual(Buffer.from(await res.arrayBuffer()), published.data);
      assert.equal(proxy.slowDowns - before, 2, 'both 503s were met, and retried');

      proxy.slowDown(2);
      await uploadSmall(server.url, 5);
      assert.equal(proxy.slowDowns - before, 4);
    } finally {
      await server.close();
    }
  });
});
