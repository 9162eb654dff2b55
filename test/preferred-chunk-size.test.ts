/**
 * A server's preferred chunk size (PROTOCOL.md §Server limits): the S3 backend tells clients 8 MiB
 * in /api/version, a chunk that streams straight into a multipart part, and our client takes it
 * as the floor of its default chunk size; the local disk prefers none. Real servers on port 0,
 * real HTTP, the S3 backend on the test Ceph.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { serverLimits } from '../src/client/core/server-limits.js';
import { uploadSource } from '../src/client/core/upload.js';
import { nodeHasher } from '../src/client/node/index.js';
import { nodeSha256 } from '../src/client/node/node-md5.js';
import type { S3Storage } from '../src/storage/s3/s3.js';
import { md5, memorySource, randomBytesSeeded } from './helpers/bytes.js';
import { emptyPrefix, s3Endpoint, s3Storage } from './helpers/s3.js';
import { startTestServer, type TestServer } from './helpers/server.js';

const MiB = 1024 * 1024;
const ep = s3Endpoint();

async function limitsOf(url: string): Promise<Record<string, unknown>> {
  const answer = (await (await fetch(`${url}/api/version`)).json()) as {
    data: { limits: Record<string, unknown> };
  };
  return answer.data.limits;
}

/** Uploads with the client's default chunk size; returns the chunk requests' count and the link. */
async function uploadCounting(url: string, bytes: Uint8Array): Promise<{ chunks: number; link: string }> {
  let chunks = 0;
  const counting: typeof fetch = (input, init) => {
    if (String(input).includes('/api/upload?')) chunks++;
    return fetch(input, init);
  };
  const r = await uploadSource(
    memorySource(bytes, 'preferred.bin'),
    { server: url, fetch: counting, deferred: false },
    { hasher: nodeHasher, createSha256: nodeSha256 },
  );
  return { chunks, link: r.url };
}

it("a server's preferred size is taken only up to its own limit and 64 MiB (client memory)", async () => {
  const answering =
    (limits: Record<string, number>): typeof fetch =>
    async () =>
      new Response(JSON.stringify({ code: 0, msg: 'ok', data: { limits } }), {
        headers: { 'content-type': 'application/json' },
      });
  const preferred = async (limits: Record<string, number>) =>
    (await serverLimits(answering(limits), 'http://server.example', { retries: 0 })).preferredChunkSize;
  assert.equal(await preferred({ preferredChunkSize: 2 ** 30 }), undefined);
  assert.equal(await preferred({ maxChunkSize: 6 * MiB, preferredChunkSize: 8 * MiB }), undefined);
  assert.equal(await preferred({ preferredChunkSize: 8 * MiB }), 8 * MiB);
});

describe('the local disk', () => {
  let srv: TestServer;
  before(async () => {
    srv = await startTestServer();
  });
  after(() => srv.close());

  it('prefers no chunk size: the client keeps its 4 MiB default', async () => {
    assert.equal((await limitsOf(srv.url)).preferredChunkSize, undefined);
    const bytes = randomBytesSeeded(10 * MiB, 61);
    const { chunks, link } = await uploadCounting(srv.url, bytes);
    assert.equal(chunks, 3);
    assert.equal(md5(Buffer.from(await (await fetch(link)).arrayBuffer())), md5(bytes));
  });
});

describe('the S3 backend', { skip: typeof ep === 'string' ? ep : false, timeout: 120_000 }, () => {
  let srv: TestServer;
  let store: S3Storage;
  before(async () => {
    if (typeof ep === 'string') return;
    store = s3Storage(ep);
    srv = await startTestServer({ storage: { kind: 's3', ...ep, prefix: store.prefix } });
  });
  after(async () => {
    await srv?.close();
    if (store) {
      await emptyPrefix(store);
      await store.close();
    }
  });

  it('prefers 8 MiB chunks (a multipart part each), and the client plans with them by default', async () => {
    assert.equal((await limitsOf(srv.url)).preferredChunkSize, 8 * MiB);
    const bytes = randomBytesSeeded(10 * MiB, 62);
    const { chunks, link } = await uploadCounting(srv.url, bytes);
    assert.equal(chunks, 2);
    assert.equal(md5(Buffer.from(await (await fetch(link)).arrayBuffer())), md5(bytes));
  });

  it('never above the server limit: a server that takes at most 6 MiB prefers nothing, the 4 MiB default stays', async () => {
    if (typeof ep === 'string') return;
    const small = await startTestServer({
      storage: { kind: 's3', ...ep, prefix: store.prefix },
      maxChunkSize: 6 * MiB,
    });
    try {
      assert.equal((await limitsOf(small.url)).preferredChunkSize, undefined);
      const { chunks } = await uploadCounting(small.url, randomBytesSeeded(10 * MiB, 63));
      assert.equal(chunks, 3);
    } finally {
      await small.close();
    }
  });
});
