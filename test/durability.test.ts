/**
 * --durability chunk|group (storage/local-disk/durability.ts): both keep every acknowledged chunk
 * through kill -9 of the server; under group, a crash of the machine (simulated: the server is
 * killed, bytes of acknowledged chunks are damaged as a lost page cache would leave them, and the
 * boot id recorded in durability.json changes) makes the next start re-verify, and the next
 * handshake asks again for exactly the damaged chunks.
 */
import assert from 'node:assert/strict';
import { mkdir, open, readdir, readFile, rm, stat, truncate, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { Durability } from '../src/storage/local-disk/durability.js';
import { DiskLayout } from '../src/storage/local-disk/layout.js';
import { getJson, handshake, sendChunk, sendRawChunk } from './helpers/api.js';
import { cut, md5, randomBytesSeeded } from './helpers/bytes.js';
import { type ChildServer, killAllServers, spawnServer } from './helpers/child-server.js';
import { tempDir } from './helpers/server.js';

const KiB = 1024;
const CHUNK = 256 * KiB;
const TUS = { 'Tus-Resumable': '1.0.0' };

let root: string;
before(async () => {
  root = await tempDir('rt-durability-');
  await mkdir(join(root, 'none'));
});
after(async () => {
  killAllServers();
  await rm(root, { recursive: true, force: true });
});

async function start(dataDir: string, mode: 'chunk' | 'group'): Promise<ChildServer> {
  return spawnServer(dataDir, [
    '--durability',
    mode,
    '--library',
    join(root, 'none'),
    '--instant-upload',
    'open',
  ]);
}

/** Even chunks go in place (ids before the bytes), odd ones as plain chunks (bytes first). */
function send(url: string, c: ReturnType<typeof cut>, i: number) {
  return i % 2 === 0
    ? sendRawChunk(url, c.fileId, c.chunkIds[i]!, c.chunks[i]!)
    : sendChunk(url, { fileId: c.fileId, chunkId: c.chunkIds[i]!, file: c.chunks[i]! });
}

function plan(c: ReturnType<typeof cut>, size: number) {
  return { fileId: c.fileId, ext: '.bin', chunkIds: c.chunkIds, size, chunkSize: CHUNK };
}

/** Sends the chunks the handshake asks for; resolves with the link of the last answer. */
async function finish(url: string, c: ReturnType<typeof cut>, needed: string[]): Promise<string> {
  let link: string | undefined;
  for (const id of needed) {
    const a = await send(url, c, c.chunkIds.indexOf(id));
    assert.equal(a.status, 200, JSON.stringify(a.body));
    if (typeof a.body.url === 'string') link = a.body.url;
  }
  assert.ok(link, 'the last chunk answers the link');
  return link;
}

async function servedMd5(url: string, fileId: string): Promise<string | number> {
  const res = await fetch(`${url}/upload/${fileId}.bin`);
  if (res.status !== 200) return res.status;
  return md5(Buffer.from(await res.arrayBuffer()));
}

for (const mode of ['chunk', 'group'] as const) {
  describe(`--durability ${mode}`, () => {
    it('kill -9 keeps every acknowledged chunk; the upload finishes without re-sending any', async () => {
      const dataDir = join(root, `kill-${mode}`);
      const data = randomBytesSeeded(12 * CHUNK + 1000, mode === 'chunk' ? 3 : 4);
      const c = cut(data, CHUNK);
      let server = await start(dataDir, mode);
      const hs = await handshake(server.url, plan(c, data.length));
      assert.deepEqual(hs.body.data, c.chunkIds);
      const acked = new Set<string>();
      for (const i of [0, 1, 2, 3, 5, 6, 9]) {
        const a = await send(server.url, c, i);
        assert.equal(a.status, 200);
        acked.add(c.chunkIds[i]!);
      }
      await server.kill();

      server = await start(dataDir, mode);
      const again = await handshake(server.url, plan(c, data.length));
      const needed = again.body.data as string[];
      assert.deepEqual(
        needed,
        c.chunkIds.filter((id) => !acked.has(id)),
        'the handshake asks for exactly the chunks never acknowledged',
      );
      await finish(server.url, c, needed);
      assert.equal(await servedMd5(server.url, c.fileId), c.fileId);
      await server.stop();
      const checkpoint = JSON.parse(await readFile(join(dataDir, 'durability.json'), 'utf8'));
      assert.equal(checkpoint.mode, mode);
      assert.equal(checkpoint.clean, true, 'a graceful stop records a clean stop');
    });

    it('kill -9 keeps every acknowledged tus append: HEAD answers its offset, the upload finishes', async () => {
      const dataDir = join(root, `kill-tus-${mode}`);
      const data = randomBytesSeeded(3 * CHUNK + 5, mode === 'chunk' ? 8 : 9);
      let server = await start(dataDir, mode);
      const created = await fetch(`${server.url}/files/`, {
        method: 'POST',
        headers: { ...TUS, 'Upload-Length': String(data.length) },
      });
      assert.equal(created.status, 201);
      const location = new URL(created.headers.get('location')!, server.url).pathname;
      const patch = (url: string, offset: number, bytes: Uint8Array) =>
        fetch(`${url}${location}`, {
          method: 'PATCH',
          headers: {
            ...TUS,
            'Upload-Offset': String(offset),
            'Content-Type': 'application/offset+octet-stream',
          },
          body: bytes as Uint8Array<ArrayBuffer>,
        });
      assert.equal((await patch(server.url, 0, data.subarray(0, CHUNK))).status, 204);
      assert.equal((await patch(server.url, CHUNK, data.subarray(CHUNK, 2 * CHUNK))).status, 204);
      await server.kill();

      server = await start(dataDir, mode);
      const head = await fetch(`${server.url}${location}`, { method: 'HEAD', headers: TUS });
      assert.equal(Number(head.headers.get('upload-offset')), 2 * CHUNK, 'both acknowledged appends kept');
      assert.equal((await patch(server.url, 2 * CHUNK, data.subarray(2 * CHUNK))).status, 204);
      await server.stop();
      assert.equal(md5(await readFile(join(dataDir, 'files', md5(data)))), md5(data));
    });
  });
}

describe('--durability group: a crash of the machine', () => {
  it('re-verifies held chunks: the handshake asks again for exactly the damaged ones, nothing unverified is served', async () => {
    const dataDir = join(root, 'machine');
    const data = randomBytesSeeded(10 * CHUNK + 777, 5);
    const c = cut(data, CHUNK);
    let server = await start(dataDir, 'group');
    await handshake(server.url, plan(c, data.length));
    const sent = [0, 1, 2, 3, 4, 5, 7];
    for (const i of sent) assert.equal((await send(server.url, c, i)).status, 200);
    await server.kill();

    const upload = join(dataDir, 'uploads', c.fileId);
    // What a lost page cache leaves: region 2's bytes zeroed, region 4's never written (the data
    // file ends inside it), plain chunk 3 emptied, plain chunk 5 with a torn middle.
    const fh = await open(join(upload, 'data'), 'r+');
    await fh.write(Buffer.alloc(CHUNK), 0, CHUNK, 2 * CHUNK);
    await fh.close();
    await truncate(join(upload, 'data'), 4 * CHUNK + 100);
    await truncate(join(upload, 'chunks', c.chunkIds[3]!.slice(0, 32)), 0);
    const torn = await open(join(upload, 'chunks', c.chunkIds[5]!.slice(0, 32)), 'r+');
    await torn.write(Buffer.from('not the bytes that were acknowledged'), 0, 36, 1000);
    await torn.close();
    // ...and the plan, renamed in but never synced, empty: the next handshake writes it again.
    const sessions = await readdir(join(upload, 'sessions'));
    assert.equal(sessions.length, 1);
    await truncate(join(upload, 'sessions', sessions[0]!), 0);
    const checkpointPath = join(dataDir, 'durability.json');
    const checkpoint = JSON.parse(await readFile(checkpointPath, 'utf8'));
    assert.equal(checkpoint.clean, false);
    assert.equal(checkpoint.mode, 'group');
    await writeFile(checkpointPath, JSON.stringify({ ...checkpoint, bootId: 'another-boot' }));

    server = await start(dataDir, 'group');
    assert.equal(await servedMd5(server.url, c.fileId), 404, 'nothing is published yet');
    const again = await handshake(server.url, plan(c, data.length));
    const damaged = new Set([2, 3, 4, 5].map((i) => c.chunkIds[i]!));
    const neverSent = c.chunkIds.filter((_, i) => !sent.includes(i));
    assert.deepEqual(
      new Set(again.body.data as string[]),
      new Set([...damaged, ...neverSent]),
      'the handshake asks for the damaged chunks and those never sent, nothing else',
    );
    await finish(server.url, c, again.body.data as string[]);
    assert.equal(await servedMd5(server.url, c.fileId), c.fileId);
    await server.stop();
    const recorded = JSON.parse(await readFile(checkpointPath, 'utf8'));
    assert.notEqual(recorded.bootId, 'another-boot', 'this boot is recorded again');
  });

  it('a tus upload rolls back to its durable offset and resumes from there to the right bytes', async () => {
    const dataDir = join(root, 'machine-tus');
    const data = randomBytesSeeded(3 * CHUNK, 6);
    let server = await start(dataDir, 'group');
    const created = await fetch(`${server.url}/files/`, {
      method: 'POST',
      headers: { ...TUS, 'Upload-Length': String(data.length) },
    });
    assert.equal(created.status, 201);
    const location = new URL(created.headers.get('location')!, server.url).pathname;
    const id = location.split('/').pop()!;
    const patch = (url: string, offset: number, bytes: Uint8Array) =>
      fetch(`${url}${location}`, {
        method: 'PATCH',
        headers: {
          ...TUS,
          'Upload-Offset': String(offset),
          'Content-Type': 'application/offset+octet-stream',
        },
        body: bytes as Uint8Array<ArrayBuffer>,
      });
    assert.equal((await patch(server.url, 0, data.subarray(0, CHUNK))).status, 204);
    // The group syncer records the first append as durable.
    const streamDir = join(dataDir, 'uploads', 'streams', id);
    const durablePath = join(streamDir, 'state.durable.json');
    const deadline = Date.now() + 30_000;
    while (JSON.parse(await readFile(durablePath, 'utf8')).offset !== CHUNK) {
      assert.ok(Date.now() < deadline, 'the group sync recorded the first append');
      await new Promise((r) => setTimeout(r, 50));
    }
    assert.equal((await patch(server.url, CHUNK, data.subarray(CHUNK, 2 * CHUNK))).status, 204);
    await server.kill();

    // The machine lost whatever was not synced: the data file ends at the durable offset.
    const durableOffset = JSON.parse(await readFile(durablePath, 'utf8')).offset as number;
    await truncate(join(streamDir, 'data'), durableOffset);
    const checkpointPath = join(dataDir, 'durability.json');
    const checkpoint = JSON.parse(await readFile(checkpointPath, 'utf8'));
    await writeFile(checkpointPath, JSON.stringify({ ...checkpoint, bootId: 'another-boot' }));

    server = await start(dataDir, 'group');
    const head = await fetch(`${server.url}${location}`, { method: 'HEAD', headers: TUS });
    assert.equal(head.status, 200);
    const offset = Number(head.headers.get('upload-offset'));
    assert.equal(offset, durableOffset, 'the upload resumes from its durable offset');
    assert.equal((await patch(server.url, offset, data.subarray(offset))).status, 204);
    await server.stop();
    const published = join(dataDir, 'files', md5(data));
    assert.equal((await stat(published)).size, data.length);
    assert.equal(md5(await readFile(published)), md5(data), 'the published bytes are the uploaded ones');
  });

  it('a process crash (same boot id) re-verifies nothing: the page cache kept the bytes', async () => {
    const dataDir = join(root, 'process');
    const data = randomBytesSeeded(4 * CHUNK, 7);
    const c = cut(data, CHUNK);
    let server = await start(dataDir, 'group');
    await handshake(server.url, plan(c, data.length));
    for (const i of [0, 1]) assert.equal((await send(server.url, c, i)).status, 200);
    await server.kill();
    // Damage that only a re-verification would notice: still held after a process crash.
    await truncate(join(dataDir, 'uploads', c.fileId, 'chunks', c.chunkIds[1]!.slice(0, 32)), 0);
    server = await start(dataDir, 'group');
    const st = await getJson(`${server.url}/api/upload/${c.fileId}`);
    assert.ok((st.body.data as { held: string[] }).held.includes(c.chunkIds[1]!));
    await server.kill();
  });
});

describe('--durability group without a boot id', () => {
  it('falls back to chunk (a crash of the machine could not be told from one of the process)', async () => {
    const dataDir = join(root, 'no-boot-id');
    await mkdir(join(dataDir, 'tmp'), { recursive: true });
    const warnings: string[] = [];
    const durability = new Durability(new DiskLayout(dataDir), 'group', (m) => warnings.push(m));
    const started = await durability.start(join(root, 'no-such-boot-id'));
    assert.equal(started.mode, 'chunk');
    assert.equal(durability.mode, 'chunk');
    assert.match(warnings.join('\n'), /boot id/);
    const checkpoint = JSON.parse(await readFile(join(dataDir, 'durability.json'), 'utf8'));
    assert.deepEqual([checkpoint.mode, checkpoint.bootId, checkpoint.clean], ['chunk', null, false]);
    await durability.close();
  });
});
