/**
 * The hash threads (io/hash-folds.ts) that fold the local disk's chunk MD5s: a thread that stops
 * mid-chunk fails that chunk alone (500, nothing kept: the client sends it again), and the next
 * chunk starts a new thread; the upload then completes with the right bytes.
 */
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { after, before, it } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { hashBlocks, md5Fold, runningHashThreads } from '../src/io/hash-folds.js';
import { handshake, sendRawChunk } from './helpers/api.js';
import { randomBytesSeeded } from './helpers/bytes.js';
import { startTestServer, type TestServer } from './helpers/server.js';

const md5 = (data: Uint8Array) => createHash('md5').update(data).digest('hex');

let server: TestServer;
before(async () => {
  server = await startTestServer();
});
after(async () => {
  await server.close();
});

it('a fold whose thread stops fails; the next fold runs on a new thread and is right', async () => {
  const data = randomBytesSeeded(3 * 1024 * 1024 + 5, 71);
  const broken = md5Fold();
  // Two 1 MiB blocks: under the fold's queue bound, so it asks for no wait.
  void broken.update(data.subarray(0, 2 * 1024 * 1024));
  const [thread] = runningHashThreads();
  assert.ok(thread, 'the fold runs on a thread');
  await thread.terminate();
  void broken.update(data.subarray(2 * 1024 * 1024));
  await assert.rejects(broken.finish(), /stopped/);
  const again = md5Fold();
  await again.update(data);
  assert.equal((await again.finish()).md5, md5(data));
  assert.notEqual(runningHashThreads()[0], thread, 'a new thread');
});

it('more folds than blocks, each holding part of one: bounded, and every digest right', async () => {
  // 48 chunks in flight at once, each fed 100 KiB and then its rest later (a slow client).
  const datas = Array.from({ length: 48 }, (_, i) => randomBytesSeeded(1024 * 1024 + 100 * i, 80 + i));
  const folds = datas.map(() => md5Fold());
  await Promise.all(folds.map((f, i) => f.update(datas[i]!.subarray(0, 100 * 1024))));
  assert.ok(hashBlocks() <= 16, `${hashBlocks()} blocks of 1 MiB`);
  await Promise.all(folds.map((f, i) => f.update(datas[i]!.subarray(100 * 1024))));
  const digests = await Promise.all(folds.map((f) => f.finish()));
  assert.deepEqual(
    digests.map((d) => d.md5),
    datas.map((d) => md5(d)),
  );
  assert.ok(hashBlocks() <= 16, `${hashBlocks()} blocks of 1 MiB`);
});

it('a chunk whose hash thread stops mid-body answers 500 and is not kept; sent again, the upload completes', async () => {
  const chunkSize = 4 * 1024 * 1024;
  const data = randomBytesSeeded(2 * chunkSize, 72);
  const chunks = [data.subarray(0, chunkSize), data.subarray(chunkSize)];
  const fileId = md5(data);
  const chunkIds = chunks.map((c, i) => `${md5(c)}${i}`);
  const plan = { fileId, ext: '.bin', chunkIds, size: data.length, chunkSize };
  assert.equal((await handshake(server.url, plan)).status, 200);

  // Chunk 0's body in two halves; the hash thread is stopped between them. None runs before it:
  // the one that appears is the chunk's.
  await Promise.all(runningHashThreads().map((t) => t.terminate()));
  let second: () => void = () => undefined;
  const body = new ReadableStream<Uint8Array>({
    start(c) {
      c.enqueue(chunks[0]!.subarray(0, chunkSize / 2));
      second = () => {
        c.enqueue(chunks[0]!.subarray(chunkSize / 2));
        c.close();
      };
    },
  });
  const sent = fetch(`${server.url}/api/upload?fileId=${fileId}&chunkId=${chunkIds[0]}`, {
    method: 'POST',
    headers: { 'content-type': 'application/octet-stream', 'content-length': String(chunkSize) },
    body,
    duplex: 'half',
  } as RequestInit);
  let threads = runningHashThreads();
  for (let i = 0; i < 100 && threads.length === 0; i++) {
    await sleep(20);
    threads = runningHashThreads();
  }
  assert.ok(threads.length > 0, 'the chunk is being hashed on a thread');
  // The first half reaches the fold (loopback, 2 MiB).
  await sleep(200);
  await Promise.all(threads.map((t) => t.terminate()));
  second();
  const failed = await sent;
  assert.equal(failed.status, 500);
  await failed.text();

  // Not kept: the handshake still asks for chunk 0.
  const again = await handshake(server.url, plan);
  assert.deepEqual(again.body.data, chunkIds);
  for (const [i, c] of chunks.entries()) {
    const r = await sendRawChunk(server.url, fileId, chunkIds[i]!, c);
    assert.equal(r.status, 200, JSON.stringify(r.body));
  }
  const file = await fetch(`${server.url}/upload/${fileId}.bin`);
  assert.equal(file.status, 200);
  assert.equal(md5(new Uint8Array(await file.arrayBuffer())), fileId);
});
