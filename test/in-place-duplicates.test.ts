/**
 * A second copy of a chunk written in place (a retry, or a page reloaded mid-upload whose old
 * request the browser did not cut) cannot hold a finished upload back: assembly waits for it a
 * grace time, then cuts it with a retryable 503 CHUNK_SUPERSEDED, and publishes the right bytes.
 */
import assert from 'node:assert/strict';
import { mkdir, rm } from 'node:fs/promises';
import { request } from 'node:http';
import { after, before, describe, it } from 'node:test';
import { RegionSet, WRITER_GRACE_MS } from '../src/storage/local-disk/chunk-regions.js';
import { Durability } from '../src/storage/local-disk/durability.js';
import { DiskLayout } from '../src/storage/local-disk/layout.js';
import { handshake, sendRawChunk } from './helpers/api.js';
import { cut, md5, randomBytesSeeded } from './helpers/bytes.js';
import { startTestServer, type TestServer, tempDir } from './helpers/server.js';

const MiB = 1024 * 1024;

/** Sends `data` as the chunk's body, 16 KiB a second (above every body-rate bar), until answered. */
function slowChunk(base: string, fileId: string, chunkId: string, data: Buffer) {
  let sent = 0;
  let timer: NodeJS.Timeout | undefined;
  const answered = new Promise<{ status: number; body: { error?: string }; retryAfter?: string }>(
    (resolve, reject) => {
      const req = request(
        `${base}/api/upload?fileId=${fileId}&chunkId=${chunkId}`,
        {
          method: 'POST',
          headers: { 'content-type': 'application/octet-stream', 'content-length': data.length },
        },
        (res) => {
          clearInterval(timer);
          let text = '';
          res.setEncoding('utf8');
          res.on('data', (s: string) => {
            text += s;
          });
          res.on('end', () =>
            resolve({
              status: res.statusCode ?? 0,
              body: JSON.parse(text) as { error?: string },
              retryAfter: res.headers['retry-after'],
            }),
          );
        },
      );
      req.on('error', (err) => {
        clearInterval(timer);
        reject(err);
      });
      const step = 16 * 1024;
      const next = () => {
        if (sent >= data.length) return;
        req.write(data.subarray(sent, sent + step));
        sent += step;
      };
      timer = setInterval(next, 1000);
      next();
    },
  );
  return { answered, sentBytes: () => sent };
}

describe('a slow second copy of an in-place chunk', () => {
  let server: TestServer;
  before(async () => {
    server = await startTestServer();
  });
  after(() => server.close());

  it('is cut after the grace time; the upload publishes the right bytes without it', async () => {
    const data = randomBytesSeeded(4 * MiB, 71);
    const { fileId, chunks, chunkIds } = cut(data, MiB);
    const hs = await handshake(server.url, {
      fileId,
      ext: '.bin',
      chunkIds,
      size: data.length,
      chunkSize: MiB,
    });
    assert.deepEqual(hs.body.data, chunkIds);
    // The slow copy claims chunk 1's region first (it would take 64 s to send).
    const slow = slowChunk(server.url, fileId, chunkIds[1]!, chunks[1]!);
    await new Promise((r) => setTimeout(r, 1500));
    const started = performance.now();
    const answers = await Promise.all(
      chunks.map((c, i) => sendRawChunk(server.url, fileId, chunkIds[i]!, c)),
    );
    const waited = performance.now() - started;
    for (const a of answers) assert.equal(a.status, 200);
    const link = answers.map((a) => a.body.url ?? a.body.data).find((d) => typeof d === 'string');
    assert.equal(typeof link, 'string', 'one answer carries the link');

    const cutShort = await slow.answered;
    assert.equal(cutShort.status, 503);
    assert.equal(cutShort.body.error, 'CHUNK_SUPERSEDED');
    assert.equal(cutShort.retryAfter, '1');
    assert.ok(
      slow.sentBytes() < MiB,
      `the slow copy was cut before its end (${slow.sentBytes()} bytes sent)`,
    );
    // Bounded by the grace time, not by the slow copy (a hung wait would time the test out).
    assert.ok(waited >= WRITER_GRACE_MS * 0.9, `assembly waited for the slow copy first (${waited} ms)`);

    const res = await fetch(link as string);
    assert.equal(res.status, 200);
    assert.equal(md5(new Uint8Array(await res.arrayBuffer())), fileId);
  });
});

it('assembly waits for a second writer of a region until its bytes are written, not until it commits', {
  timeout: 30_000,
}, async () => {
  // The writer commits under the upload's lock, which the assembly holds: had the assembly waited
  // for the commit, neither would move (what hung the load-and-chaos suite).
  const dir = await tempDir('rt-regions-');
  try {
    const layout = new DiskLayout(dir);
    await mkdir(layout.uploadDir('a'.repeat(32)), { recursive: true });
    await mkdir(layout.tmp, { recursive: true });
    const set = await RegionSet.create(
      layout.regionFiles('a'.repeat(32)),
      8,
      4,
      new Durability(layout, 'chunk'),
    );
    const claim = set.claim(0);
    assert.ok(claim, 'the region is free to claim');
    claim.written();
    let timer: NodeJS.Timeout | undefined;
    const ran = await Promise.race([
      set.assemble(async () => 'ran'),
      new Promise((r) => {
        timer = setTimeout(() => r('still waiting'), 5000);
      }),
    ]);
    clearTimeout(timer);
    assert.equal(ran, 'ran');
    claim.release();
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
});
