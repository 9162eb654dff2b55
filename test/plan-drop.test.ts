/**
 * A plan that cannot make its file goes with the chunks it lists (core/drop-plan.ts), and with the
 * chunks no plan left lists; a stranger's plan of the owner's layout never takes the owner's file
 * off the in-place path. Written by a review of the first version, which failed both.
 */
import assert from 'node:assert/strict';
import { readdirSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { planBytes } from '../src/core/usage.js';
import { cut, md5, randomBytesSeeded } from './helpers/bytes.js';
import { from } from './helpers/requester.js';
import { startTestServer, type TestServer } from './helpers/server.js';

const KiB = 1024;
const owner = from('127.0.0.2');
const stranger = from('127.0.0.3');

async function heldBytesMetric(url: string): Promise<number> {
  const text = await (await fetch(`${url}/metrics`)).text();
  const m = /^resumable_upload_held_bytes (\d+)/m.exec(text);
  return Number(m?.[1] ?? Number.NaN);
}

describe('orphans: a session re-handshakes, then fails its new plan', () => {
  let srv: TestServer;
  before(async () => {
    srv = await startTestServer({
      maxFileSize: 20 * 64 * KiB,
      maxIncompleteBytesPerClient: 7 * 64 * KiB,
    });
  });
  after(() => srv.close());

  it("the failing session's earlier chunks go too: nothing uncounted stays, the owner finishes", async () => {
    // Six chunks: within the owner's own quota of seven.
    const data = randomBytesSeeded(6 * 64 * KiB, 2001);
    const c = cut(data, 64 * KiB);
    assert.equal(
      (await owner.handshake(srv.url, { fileId: c.fileId, ext: '.bin', chunkIds: c.chunkIds })).status,
      200,
    );
    assert.equal((await owner.chunk(srv.url, c.fileId, c.chunkIds[0]!, c.chunks[0]!)).status, 200);

    // Three rounds, each within the stranger's 7-chunk quota: a plan of 5 junk chunks sent, then
    // replaced by a one-chunk plan of junk that fails (its drop takes only the chunk it lists).
    for (let round = 0; round < 3; round++) {
      const junk = [0, 1, 2, 3, 4].map((i) => randomBytesSeeded(64 * KiB, 3000 + round * 10 + i));
      // A sixth id never sent: the plan stays incomplete.
      const ids = junk.map((j, i) => md5(j) + i).concat(`${'e'.repeat(31)}${round}5`);
      const hs = await stranger.handshake(srv.url, { fileId: c.fileId, ext: '.bin', chunkIds: ids });
      assert.equal(hs.status, 200, JSON.stringify(hs.body));
      for (let i = 0; i < 5; i++) {
        const r = await stranger.chunk(srv.url, c.fileId, ids[i]!, junk[i]!);
        assert.equal(r.status, 200, `round ${round} chunk ${i}: ${JSON.stringify(r.body)}`);
      }
      const k = randomBytesSeeded(64 * KiB, 3900 + round);
      const kid = `${md5(k)}0`;
      assert.equal(
        (await stranger.handshake(srv.url, { fileId: c.fileId, ext: '.bin', chunkIds: [kid] })).status,
        200,
      );
      const failed = await stranger.chunk(srv.url, c.fileId, kid, k);
      assert.equal(failed.body.error, 'FILE_MD5_MISMATCH');
    }
    const onDisk = readdirSync(join(srv.dataDir, 'uploads', c.fileId, 'chunks')).length;
    const counted = await heldBytesMetric(srv.url);
    const problems: string[] = [];
    // What the server counts for incomplete uploads should cover what they hold on disk.
    if (counted < onDisk * 64 * KiB)
      problems.push(
        `${onDisk} chunks (${onDisk * 64} KiB) on disk, ${counted / KiB} KiB counted (the stranger's quota is 448 KiB)`,
      );

    // And the owner can still finish its file (20 chunks are allowed per upload: the junk counted
    // toward that limit and refused the owner's chunk 5 with 413).
    for (let i = 1; i < 6; i++) {
      const r = await owner.chunk(srv.url, c.fileId, c.chunkIds[i]!, c.chunks[i]!);
      if (r.status !== 200) {
        problems.push(`owner's chunk ${i}: ${r.status} ${r.body.error}`);
        break;
      }
    }
    assert.deepEqual(problems, []);
  });
});

describe('in place: one junk chunk of a stranger in a free region', () => {
  let srv: TestServer;
  before(async () => {
    srv = await startTestServer();
  });
  after(() => srv.close());

  it("the owner's file is still assembled in place (published by renaming its data file)", async () => {
    const data = randomBytesSeeded(4 * 64 * KiB, 2201);
    const c = cut(data, 64 * KiB);
    const layout = { size: data.length, chunkSize: 64 * KiB };
    await owner.handshake(srv.url, { fileId: c.fileId, ext: '.bin', chunkIds: c.chunkIds, ...layout });
    for (const i of [0, 1, 2]) await owner.chunk(srv.url, c.fileId, c.chunkIds[i]!, c.chunks[i]!);
    const junk = randomBytesSeeded(64 * KiB, 2202);
    const ids = [0, 1, 2].map((i) => `${'e'.repeat(31)}${i}${i}`).concat(`${md5(junk)}3`);
    await stranger.handshake(srv.url, { fileId: c.fileId, ext: '.bin', chunkIds: ids, ...layout });
    assert.equal((await stranger.chunk(srv.url, c.fileId, ids[3]!, junk)).status, 200);
    const dataFile = join(srv.dataDir, 'uploads', c.fileId, 'data');
    const ino = statSync(dataFile).ino;
    const last = await owner.chunk(srv.url, c.fileId, c.chunkIds[3]!, c.chunks[3]!);
    assert.equal(last.status, 200, JSON.stringify(last.body));
    const published = readdirSync(join(srv.dataDir, 'files')).find(
      (n) => n.startsWith(c.fileId) && !n.endsWith('.json'),
    );
    assert.ok(published);
    assert.equal(
      statSync(join(srv.dataDir, 'files', published)).ino,
      ino,
      'copied: the in-place data file was not published',
    );
  });
});

describe("counts: a stranger's failing plan takes the owner's chunks it lists", () => {
  let srv: TestServer;
  before(async () => {
    srv = await startTestServer();
  });
  after(() => srv.close());

  it('what the server counts for the upload comes down to what it still holds', async () => {
    const data = randomBytesSeeded(4 * 64 * KiB, 2301);
    const c = cut(data, 64 * KiB);
    await owner.handshake(srv.url, { fileId: c.fileId, ext: '.bin', chunkIds: c.chunkIds });
    for (const i of [0, 1, 2]) await owner.chunk(srv.url, c.fileId, c.chunkIds[i]!, c.chunks[i]!);
    const chunksDir = join(srv.dataDir, 'uploads', c.fileId, 'chunks');
    const held = () => readdirSync(chunksDir).reduce((n, f) => n + statSync(join(chunksDir, f)).size, 0);
    const ownerPlan = planBytes({ chunkIds: c.chunkIds });
    assert.equal(await heldBytesMetric(srv.url), ownerPlan + 3 * 64 * KiB);

    // The stranger lists two of the owner's chunks (say it has the file) and one junk chunk of
    // its own: the assembly fails, the plan goes with the three chunks it lists.
    const junk = randomBytesSeeded(64 * KiB, 2302);
    const ids = [c.chunkIds[0]!, c.chunkIds[1]!, `${md5(junk)}2`];
    await stranger.handshake(srv.url, { fileId: c.fileId, ext: '.bin', chunkIds: ids });
    const failed = await stranger.chunk(srv.url, c.fileId, ids[2]!, junk);
    assert.equal(failed.body.error, 'FILE_MD5_MISMATCH');
    assert.equal(held(), 64 * KiB, "only the owner's chunk 2 is left");
    // Before: the owner's session still counted the two chunks that went (an over-count).
    assert.equal(await heldBytesMetric(srv.url), ownerPlan + held());

    // The owner sends them again and finishes; nothing is counted any more.
    for (const i of [0, 1, 3]) {
      const r = await owner.chunk(srv.url, c.fileId, c.chunkIds[i]!, c.chunks[i]!);
      assert.equal(r.status, 200, JSON.stringify(r.body));
    }
    assert.equal(await heldBytesMetric(srv.url), 0);
  });
});
