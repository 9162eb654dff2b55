/**
 * A 1 GiB upload through the S3 part path (8 MiB chunks, SHA-256 declared) over three server
 * processes on one bucket, whose processes are killed at the worst moments, seen on the wire
 * between each process and the store (a relay that reads the request lines): one while it streams
 * a chunk into UploadPart, another right after it sent CompleteMultipartUpload (the store
 * completes it; the process never learns it). The client, retrying on the next process, ends with
 * one object of the right MD5 and SHA-256; once the upload's leftovers expire and the sweeper ran,
 * no multipart upload is left (ListMultipartUploads).
 */
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { once } from 'node:events';
import { mkdir, rm } from 'node:fs/promises';
import { connect, createServer, type Server } from 'node:net';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { after, describe, it } from 'node:test';
import { ListMultipartUploadsCommand, ListObjectsV2Command } from '@aws-sdk/client-s3';
import { upload } from '../src/client/node/index.js';
import { writeRandomFile } from './helpers/bytes.js';
import { type ChildServer, killAllServers, spawnServer } from './helpers/child-server.js';
import { emptyPrefix, type S3Endpoint, s3Endpoint, s3ServeArgs, s3Storage } from './helpers/s3.js';
import { tempDir } from './helpers/server.js';

const MiB = 1024 * 1024;
const ep = s3Endpoint();
after(() => killAllServers());

/**
 * A relay to the store that calls `onRequest` with each request's first line and the bytes of it
 * relayed so far (the request line is the first thing on a connection, or after a response).
 */
async function watchingRelay(
  upstream: string,
  onRequest: (line: string, relayed: number) => void,
): Promise<{ endpoint: string; server: Server }> {
  const target = new URL(upstream);
  const server = createServer((client) => {
    const relay = connect(Number(target.port), target.hostname);
    let line = '';
    let relayed = 0;
    const closeBoth = () => {
      client.destroy();
      relay.destroy();
    };
    client.on('error', closeBoth);
    relay.on('error', closeBoth);
    client.on('close', closeBoth);
    relay.on('close', closeBoth);
    // A response means the next bytes from the process start a new request; not an interim
    // 100 Continue, which the SDK waits for before it sends a part's body.
    relay.on('data', (data: Buffer) => {
      if (data.subarray(0, 12).toString('latin1') === 'HTTP/1.1 100') return;
      line = '';
      relayed = 0;
    });
    relay.pipe(client);
    client.on('data', (data: Buffer) => {
      if (line === '') line = data.subarray(0, 400).toString('latin1').split('\r\n')[0] ?? '';
      relay.write(data);
      relayed += data.length;
      onRequest(line, relayed);
    });
  });
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  const { port } = server.address() as { port: number };
  return { endpoint: `http://127.0.0.1:${port}`, server };
}

const UPLOAD_PART = /^PUT \S*\/files\/\S*[?&]partNumber=\d+\S*x-id=UploadPart HTTP\//;
const COMPLETE = /^POST \S*\/files\/\S*[?&]uploadId=\S* HTTP\//;

describe('S3 part path: processes killed mid-UploadPart and mid-CompleteMultipartUpload', {
  skip: typeof ep === 'string' ? ep : false,
  // A bound on a hung run, not a speed goal.
  timeout: 1_200_000,
}, () => {
  it('1 GiB: one object, the right MD5, no multipart upload left after expiry and sweep', async () => {
    const e = ep as S3Endpoint;
    const dir = await tempDir('rt-s3-parts-kill-');
    const lib = join(dir, 'lib');
    await mkdir(lib);
    const store = s3Storage(e);
    const args = [...s3ServeArgs(e, store.prefix), '--library', lib, '--log-level', 'error'];
    const withEndpoint = (endpoint: string) =>
      args.map((a, i) => (args[i - 1] === '--s3-endpoint' ? endpoint : a));
    const servers: ChildServer[] = [];
    const killed = { part: '', complete: '' };
    const partsSeen = new Set<string>();
    // Process 0 dies 3 MiB into an UploadPart of a part past the first few.
    const relay0 = await watchingRelay(e.endpoint, (line, relayed) => {
      if (UPLOAD_PART.test(line)) partsSeen.add(line);
      if (killed.part || !UPLOAD_PART.test(line) || relayed < 3 * MiB) return;
      if (Number(/partNumber=(\d+)/.exec(line)?.[1]) < 8) return;
      killed.part = line;
      void servers[0]?.kill();
    });
    // Process 1 dies as soon as its CompleteMultipartUpload is on its way to the store.
    const relay1 = await watchingRelay(e.endpoint, (line) => {
      if (killed.complete || !COMPLETE.test(line)) return;
      killed.complete = line;
      void servers[1]?.kill();
    });
    try {
      servers.push(
        await spawnServer(join(dir, 'd0'), withEndpoint(relay0.endpoint)),
        await spawnServer(join(dir, 'd1'), withEndpoint(relay1.endpoint)),
        await spawnServer(join(dir, 'd2'), args),
      );
      const path = join(dir, 'big.bin');
      const fileId = await writeRandomFile(path, 1024 * MiB + 12_345, 71);
      // Round robin over processes 0 and 1 until 0 dies, then 1 alone (it assembles), then 2.
      let turn = 0;
      const roundRobin: typeof fetch = (input, init) => {
        const alive = servers.slice(0, 2).filter((s) => s.alive());
        const pool = alive.length > 0 ? alive : [servers[2]!];
        const to = new URL(pool[turn++ % pool.length]!.url);
        const url = new URL(String(input));
        return fetch(`${to.origin}${url.pathname}${url.search}`, init);
      };
      const result = await upload(path, {
        server: servers[2]!.url,
        chunkSize: 8 * MiB,
        concurrency: 4,
        fetch: roundRobin,
        hashCache: false,
        retries: 40,
        minDelay: 50,
        maxDelay: 1000,
      });
      assert.ok(partsSeen.size >= 3, 'chunks went straight into parts');
      assert.ok(killed.part, 'a process was killed while it streamed a chunk into UploadPart');
      assert.ok(killed.complete, 'a process was killed during CompleteMultipartUpload');
      assert.equal(result.fileId, fileId);

      // One object under files/, and its bytes are the file's (read through the survivor).
      const listed = await store.client.send(
        new ListObjectsV2Command({ Bucket: e.bucket, Prefix: `${store.prefix}files/` }),
      );
      assert.equal(listed.Contents?.length, 1, 'one object');
      const res = await fetch(result.url.replace(/^https?:\/\/[^/]+/, new URL(servers[2]!.url).origin));
      assert.equal(res.status, 200);
      const hash = createHash('md5');
      for await (const b of Readable.fromWeb(res.body as never)) hash.update(b as Buffer);
      assert.equal(hash.digest('hex'), fileId, 'the right MD5');

      // What upload expiry does to every upload left (the one whose process died after completing),
      // then a sweep: nothing left, no multipart upload in the store.
      const cleaner = s3Storage(e, store.prefix);
      try {
        for await (const u of cleaner.listUploads()) await cleaner.removeUpload(u.fileId);
        await new Promise((r) => setTimeout(r, 1100));
        await cleaner.sweepTemp(1);
        const left = await cleaner.client.send(
          new ListMultipartUploadsCommand({ Bucket: e.bucket, Prefix: store.prefix }),
        );
        assert.deepEqual(left.Uploads ?? [], [], 'no multipart upload left');
        const rest = await cleaner.client.send(
          new ListObjectsV2Command({ Bucket: e.bucket, Prefix: store.prefix }),
        );
        assert.deepEqual(
          (rest.Contents ?? [])
            .map((o) => o.Key!.slice(store.prefix.length))
            .filter((k) => !k.startsWith('files/')),
          [],
        );
      } finally {
        await cleaner.close();
      }
    } finally {
      await Promise.all(servers.map((s) => s.kill()));
      relay0.server.close();
      relay1.server.close();
      await emptyPrefix(store);
      await store.close();
      await rm(dir, { recursive: true, force: true });
    }
  });
});
