/**
 * The SHA-256 of a tus upload is folded beside its MD5 as the bytes arrive, its state saved in
 * the upload's record (io/hash-folds.ts), so the SHA-256 every published file records (here
 * seen in the capability link `/upload/<md5>-<sha32><ext>` under --instant-upload off) is right
 * after an upload resumed across a restart, across `--workers 2` and across two processes over
 * one bucket, without reading the bytes back: /metrics counts every read-back
 * (resumable_stream_readbacks_total). A record written by the version before, without the
 * SHA-256 state, still completes right, with one read-back.
 */
import assert from 'node:assert/strict';
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { nativeSha256 } from '../src/io/native-sha256.js';
import { randomBytesSeeded } from './helpers/bytes.js';
import { killAllServers, spawnServer } from './helpers/child-server.js';
import { linkOf } from './helpers/links.js';
import { metadata, OCTETS, send, TUS } from './helpers/resumable.js';
import { emptyPrefix, s3Endpoint, s3ServeArgs, s3Storage } from './helpers/s3.js';
import { tempDir } from './helpers/server.js';

after(() => killAllServers());
const ep = s3Endpoint();
/** A new connection per request: the cluster of --workers hands each to the next worker. */
const CLOSE = { Connection: 'close' };
const OFF = ['--instant-upload', 'off', '--log-level', 'error'];

/** Read-backs a server counted: [uploads, bytes] (from /metrics, which loopback clients may read). */
async function readBacks(base: string): Promise<[number, number]> {
  const text = await (await fetch(`${base}/metrics`, { headers: CLOSE })).text();
  const value = (name: string) => {
    const m = new RegExp(`^${name} (\\d+)$`, 'm').exec(text);
    assert.ok(m, `${name} in /metrics`);
    return Number(m[1]);
  };
  return [value('resumable_stream_readbacks_total'), value('resumable_stream_readback_bytes_total')];
}

async function createUpload(base: string, data: Buffer): Promise<string> {
  const created = await send(`${base}/files/`, 'POST', {
    ...TUS,
    ...CLOSE,
    'Upload-Length': String(data.length),
    'Upload-Metadata': metadata({ filename: 'scan.bin' }),
  });
  assert.equal(created.status, 201, created.text);
  return new URL(created.headers.get('location')!).pathname;
}

/** PATCHes data[from..to) in `pieces` requests, each through the next of `bases`; the last answer. */
async function patchInTurns(
  bases: string[],
  path: string,
  data: Buffer,
  from: number,
  to: number,
  pieces = 1,
) {
  const step = Math.ceil((to - from) / pieces);
  let last: Awaited<ReturnType<typeof send>> | undefined;
  for (let i = 0, at = from; at < to; i++, at += step) {
    const end = Math.min(at + step, to);
    last = await send(
      `${bases[i % bases.length]}${path}`,
      'PATCH',
      { ...OCTETS, ...CLOSE, 'Upload-Offset': String(at) },
      data.subarray(at, end),
    );
    assert.equal(last.status, 204, `PATCH at ${at}: ${last.text}`);
    assert.equal(last.headers.get('upload-offset'), String(end));
  }
  assert.ok(last);
  return last;
}

/** The completing answer names the capability link made of the data's SHA-256, which serves it. */
async function linksRight(base: string, answer: { headers: Headers }, data: Buffer): Promise<void> {
  const expected = linkOf(base, 'off', data, '.bin');
  assert.equal(answer.headers.get('link'), `<${expected}>; rel="item"`, 'the link carries the SHA-256');
  const got = await fetch(expected, { headers: CLOSE });
  assert.equal(got.status, 200);
  assert.ok(Buffer.from(await got.arrayBuffer()).equals(data), 'the link serves the bytes');
}

const needSha = nativeSha256 ? false : 'native/sha256.c is not built: no SHA-256 is folded';

describe('a tus upload’s SHA-256, folded as it arrives', { timeout: 180_000 }, () => {
  it('resumed across a restart: right, and no byte read back', { skip: needSha }, async () => {
    const dir = await tempDir('rt-sha-restart-');
    const data = randomBytesSeeded(5 * 1024 * 1024 + 77, 901);
    const half = 2 * 1024 * 1024 + 3;
    let server = await spawnServer(join(dir, 'data'), OFF);
    try {
      const path = await createUpload(server.url, data);
      await patchInTurns([server.url], path, data, 0, half, 2);
      await server.kill();
      server = await spawnServer(join(dir, 'data'), OFF);
      const done = await patchInTurns([server.url], path, data, half, data.length, 2);
      await linksRight(server.url, done, data);
      assert.deepEqual(await readBacks(server.url), [0, 0], 'the SHA-256 came from the fold');
    } finally {
      await server.kill();
    }
  });

  it('a record without the SHA-256 state (the version before) completes right, read back once', async () => {
    const dir = await tempDir('rt-sha-old-');
    const data = randomBytesSeeded(3 * 1024 * 1024 + 5, 902);
    const half = 1024 * 1024 + 1;
    let server = await spawnServer(join(dir, 'data'), OFF);
    try {
      const path = await createUpload(server.url, data);
      await patchInTurns([server.url], path, data, 0, half);
      await server.kill();
      // What the version before wrote: the same record without `sha256State`.
      const state = join(dir, 'data', 'uploads', 'streams', path.split('/').at(-1)!, 'state.json');
      const record = JSON.parse(await readFile(state, 'utf8')) as Record<string, unknown>;
      assert.equal(record.offset, half);
      if (nativeSha256) assert.equal(typeof record.sha256State, 'string', 'this version saves the state');
      delete record.sha256State;
      await writeFile(state, JSON.stringify(record));
      server = await spawnServer(join(dir, 'data'), OFF);
      const done = await patchInTurns([server.url], path, data, half, data.length);
      await linksRight(server.url, done, data);
      assert.deepEqual(await readBacks(server.url), [1, data.length], 'the whole file read back once');
    } finally {
      await server.kill();
    }
  });

  it('a state that covers fewer bytes than the record (a version folding none appended after it) is not continued', {
    skip: needSha,
  }, async () => {
    const dir = await tempDir('rt-sha-stale-');
    const data = randomBytesSeeded(3 * 1024 * 1024 + 11, 905);
    const [one, two] = [1024 * 1024 + 7, 2 * 1024 * 1024 + 1];
    let server = await spawnServer(join(dir, 'data'), OFF);
    try {
      const path = await createUpload(server.url, data);
      const state = join(dir, 'data', 'uploads', 'streams', path.split('/').at(-1)!, 'state.json');
      await patchInTurns([server.url], path, data, 0, one);
      const stale = (JSON.parse(await readFile(state, 'utf8')) as { sha256State: string }).sha256State;
      await patchInTurns([server.url], path, data, one, two);
      await server.kill();
      // What a process of the version before leaves after appending: the state of the byte `one`.
      const record = JSON.parse(await readFile(state, 'utf8')) as Record<string, unknown>;
      assert.equal(record.offset, two);
      record.sha256State = stale;
      await writeFile(state, JSON.stringify(record));
      server = await spawnServer(join(dir, 'data'), OFF);
      const done = await patchInTurns([server.url], path, data, two, data.length);
      await linksRight(server.url, done, data);
      assert.deepEqual(await readBacks(server.url), [1, data.length], 'read back, not continued');
    } finally {
      await server.kill();
    }
  });

  it('serve --workers 2: PATCHes on new connections (either worker) fold a right SHA-256, none read back', {
    skip: needSha,
  }, async () => {
    const dir = await tempDir('rt-sha-workers-');
    await mkdir(join(dir, 'lib'));
    const server = await spawnServer(join(dir, 'data'), [
      ...OFF,
      '--workers',
      '2',
      '--library',
      join(dir, 'lib'),
    ]);
    try {
      const data = randomBytesSeeded(3 * 1024 * 1024 + 17, 903);
      const path = await createUpload(server.url, data);
      const done = await patchInTurns([server.url], path, data, 0, data.length, 6);
      await linksRight(server.url, done, data);
      // Each new connection goes to the next worker: every answer, whoever gave it, counts none.
      for (let i = 0; i < 4; i++) assert.deepEqual(await readBacks(server.url), [0, 0]);
    } finally {
      await server.kill();
    }
  });

  describe('two processes over one bucket', { skip: typeof ep === 'string' ? ep : needSha }, () => {
    it('PATCHes alternating between them continue one fold: a right SHA-256, none read back', async () => {
      if (typeof ep === 'string') return;
      const dir = await tempDir('rt-sha-peers-');
      await mkdir(join(dir, 'lib'));
      const store = s3Storage(ep);
      const args = [...s3ServeArgs(ep, store.prefix), '--library', join(dir, 'lib'), ...OFF];
      const [a, b] = await Promise.all([
        spawnServer(join(dir, 'a'), args),
        spawnServer(join(dir, 'b'), args),
      ]);
      try {
        const data = randomBytesSeeded(11 * 1024 * 1024 + 9, 904);
        const path = await createUpload(a.url, data);
        // Five PATCHes: a, b, a, b, a; the last one (through a) completes the upload.
        const done = await patchInTurns([a.url, b.url], path, data, 0, data.length, 5);
        await linksRight(a.url, done, data);
        assert.deepEqual(await readBacks(a.url), [0, 0]);
        assert.deepEqual(await readBacks(b.url), [0, 0]);
      } finally {
        await Promise.all([a.kill(), b.kill()]);
        await emptyPrefix(store);
        await store.close();
      }
    });
  });
});
