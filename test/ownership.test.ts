/**
 * Uploads have owners (issue 16): a handshake opens a session for its requester; another
 * requester's handshake for the same file never changes the first one's plan, ext, name or
 * answers, and only a session's owner may abandon it. Requesters are told apart by their address
 * here (127.0.0.2, 127.0.0.3: another loopback source each), as the server does without auth.
 */
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { cut, md5, randomBytesSeeded } from './helpers/bytes.js';
import { from } from './helpers/requester.js';
import { startTestServer, type TestServer } from './helpers/server.js';

const KiB = 1024;
const owner = from('127.0.0.2');
const stranger = from('127.0.0.3');

describe('owned upload sessions', () => {
  let srv: TestServer;
  before(async () => {
    srv = await startTestServer();
  });
  after(() => srv.close());

  it("a stranger's handshake never changes the owner's plan, ext, name or answers", async () => {
    const data = randomBytesSeeded(3 * 64 * KiB + 100, 1601);
    const c = cut(data, 64 * KiB);
    const plan = {
      fileId: c.fileId,
      ext: '.jpg',
      chunkIds: c.chunkIds,
      name: 'photo.jpg',
      size: data.length,
      chunkSize: 64 * KiB,
    };
    const first = await owner.handshake(srv.url, plan);
    assert.deepEqual(first.body.data, c.chunkIds);
    assert.equal((await owner.chunk(srv.url, c.fileId, c.chunkIds[0]!, c.chunks[0]!)).body.code, 0);

    // The stranger names the same file with an active type, a right-to-left-override name and
    // another chunk list (the seed replaced the plan: the owner's chunks then answered 409).
    const rlo = await stranger.handshake(srv.url, {
      fileId: c.fileId,
      ext: '.html',
      chunkIds: [`${'f'.repeat(32)}0`],
      name: '\u202Egpj.html',
    });
    assert.equal(rlo.body.code, 0);
    assert.deepEqual(rlo.body.data, [`${'f'.repeat(32)}0`], 'the stranger is answered for its own plan');

    let last = first;
    for (let i = 1; i < c.chunks.length; i++) {
      last = await owner.chunk(srv.url, c.fileId, c.chunkIds[i]!, c.chunks[i]!);
      assert.equal(last.status, 200, JSON.stringify(last.body));
    }
    assert.equal(last.body.url, `${srv.url}/upload/${c.fileId}.jpg`, "the owner's ext, not the stranger's");
    const res = await fetch(last.body.url!);
    assert.equal(res.status, 200);
    assert.match(res.headers.get('content-disposition') ?? '', /photo\.jpg/);
    assert.doesNotMatch(res.headers.get('content-disposition') ?? '', /html|%E2%80%AE/i);
    assert.deepEqual(Buffer.from(await res.arrayBuffer()), data);
  });

  it('a stranger cannot delete nor inspect the upload; the owner can, and only its session goes', async () => {
    const data = randomBytesSeeded(2 * 64 * KiB, 1602);
    const c = cut(data, 64 * KiB);
    const plan = { fileId: c.fileId, ext: '.bin', chunkIds: c.chunkIds };
    await owner.handshake(srv.url, plan);
    await owner.chunk(srv.url, c.fileId, c.chunkIds[0]!, c.chunks[0]!);

    const refused = await stranger.call('DELETE', `${srv.url}/api/upload/${c.fileId}`);
    assert.equal(refused.status, 403);
    assert.equal(refused.body.error, 'FORBIDDEN');
    assert.equal((await stranger.call('GET', `${srv.url}/api/upload/${c.fileId}`)).status, 404);
    const state = await owner.call('GET', `${srv.url}/api/upload/${c.fileId}`);
    assert.deepEqual((state.body.data as { held: string[] }).held, [c.chunkIds[0]], 'untouched');

    // The stranger's own session shares the chunks (verified by their MD5) …
    const mine = await stranger.handshake(srv.url, plan);
    assert.deepEqual(mine.body.data, [c.chunkIds[1]]);
    // … and abandoning it leaves the owner's session and the chunks.
    assert.equal((await stranger.call('DELETE', `${srv.url}/api/upload/${c.fileId}`)).status, 200);
    const still = await owner.call('GET', `${srv.url}/api/upload/${c.fileId}`);
    assert.deepEqual((still.body.data as { held: string[] }).held, [c.chunkIds[0]]);

    assert.equal((await owner.call('DELETE', `${srv.url}/api/upload/${c.fileId}`)).status, 200);
    assert.equal((await owner.call('GET', `${srv.url}/api/upload/${c.fileId}`)).status, 404);
    assert.ok(!existsSync(join(srv.dataDir, 'uploads', c.fileId)), 'the last session took the chunks');
  });

  it("a stranger's plan that cannot make the file goes with its own chunks; the owner's stay", async () => {
    // The stranger knows the file's MD5 and completes a plan of junk of the same layout: its
    // assembly reads the owner's two regions and its own third one, and fails. That dropped the
    // whole upload before: everything the owner had sent, by anyone who knew an MD5.
    const data = randomBytesSeeded(3 * 64 * KiB, 1604);
    const c = cut(data, 64 * KiB);
    const layout = { size: data.length, chunkSize: 64 * KiB };
    await owner.handshake(srv.url, { fileId: c.fileId, ext: '.bin', chunkIds: c.chunkIds, ...layout });
    for (const i of [0, 1]) await owner.chunk(srv.url, c.fileId, c.chunkIds[i]!, c.chunks[i]!);

    const junk = [0, 1, 2].map((i) => randomBytesSeeded(64 * KiB, 1700 + i));
    const junkIds = junk.map((j, i) => md5(j) + i);
    await stranger.handshake(srv.url, { fileId: c.fileId, ext: '.bin', chunkIds: junkIds, ...layout });
    // The third first: it takes the free region 2 of the data file the sessions share.
    for (const i of [2, 0])
      assert.equal((await stranger.chunk(srv.url, c.fileId, junkIds[i]!, junk[i]!)).status, 200);
    const failed = await stranger.chunk(srv.url, c.fileId, junkIds[1]!, junk[1]!);
    assert.equal(failed.status, 422);
    assert.equal(failed.body.error, 'FILE_MD5_MISMATCH');

    const state = await owner.call('GET', `${srv.url}/api/upload/${c.fileId}`);
    assert.equal(state.status, 200, "the owner's upload is still there");
    assert.deepEqual((state.body.data as { held: string[] }).held, c.chunkIds.slice(0, 2));
    assert.equal(
      (await stranger.call('GET', `${srv.url}/api/upload/${c.fileId}`)).status,
      404,
      'its plan went',
    );
    for (const j of junk)
      assert.ok(!existsSync(join(srv.dataDir, 'uploads', c.fileId, 'chunks', md5(j))), 'its chunks went');

    // The owner sends only what it had not: the region the junk held is written again.
    const last = await owner.chunk(srv.url, c.fileId, c.chunkIds[2]!, c.chunks[2]!);
    assert.equal(last.status, 200, JSON.stringify(last.body));
    const res = await fetch(last.body.url!);
    assert.deepEqual(Buffer.from(await res.arrayBuffer()), data);
  });

  it('an abandoned session takes the chunks only its plan lists', async () => {
    const data = randomBytesSeeded(2 * 64 * KiB, 1605);
    const c = cut(data, 64 * KiB);
    await owner.handshake(srv.url, { fileId: c.fileId, ext: '.bin', chunkIds: c.chunkIds });
    await owner.chunk(srv.url, c.fileId, c.chunkIds[0]!, c.chunks[0]!);
    const junk = randomBytesSeeded(64 * KiB, 1710);
    // The stranger lists the owner's first chunk (shared), one of its own, and one it never sends.
    const ids = [c.chunkIds[0]!, `${md5(junk)}1`, `${'e'.repeat(32)}2`];
    await stranger.handshake(srv.url, { fileId: c.fileId, ext: '.bin', chunkIds: ids });
    assert.equal((await stranger.chunk(srv.url, c.fileId, ids[1]!, junk)).status, 200);
    const chunks = join(srv.dataDir, 'uploads', c.fileId, 'chunks');
    assert.ok(existsSync(join(chunks, md5(junk))));

    assert.equal((await stranger.call('DELETE', `${srv.url}/api/upload/${c.fileId}`)).status, 200);
    assert.ok(!existsSync(join(chunks, md5(junk))), 'its own chunk went with it');
    assert.ok(existsSync(join(chunks, md5(c.chunks[0]!))), 'the shared one stays');
    const state = await owner.call('GET', `${srv.url}/api/upload/${c.fileId}`);
    assert.deepEqual((state.body.data as { held: string[] }).held, [c.chunkIds[0]]);
  });

  it('a chunk from a requester without a session is refused, whatever the owner planned', async () => {
    const data = randomBytesSeeded(64 * KiB, 1603);
    const c = cut(data, 64 * KiB);
    await owner.handshake(srv.url, { fileId: c.fileId, ext: '.bin', chunkIds: c.chunkIds });
    const r = await stranger.chunk(srv.url, c.fileId, c.chunkIds[0]!, c.chunks[0]!);
    assert.equal(r.status, 404);
    assert.equal(r.body.error, 'UPLOAD_NOT_FOUND');
    const state = await owner.call('GET', `${srv.url}/api/upload/${c.fileId}`);
    assert.deepEqual((state.body.data as { held: string[] }).held, [], 'nothing was filed for the owner');
  });
});

it('a plan written before sessions still loads, owned by nobody: anyone continues it', async () => {
  const srv = await startTestServer();
  try {
    const data = randomBytesSeeded(2 * 64 * KiB, 1604);
    const c = cut(data, 64 * KiB);
    const dir = join(srv.dataDir, 'uploads', c.fileId);
    await mkdir(join(dir, 'chunks'), { recursive: true });
    await writeFile(
      join(dir, 'plan.json'),
      JSON.stringify({
        fileId: c.fileId,
        ext: '.txt',
        chunkIds: c.chunkIds,
        size: null,
        chunkSize: null,
        name: 'old.txt',
        createdAt: 1,
        updatedAt: 1,
        client: '127.0.0.9',
      }),
    );
    const state = await stranger.call('GET', `${srv.url}/api/upload/${c.fileId}`);
    assert.equal(state.status, 200);
    await owner.chunk(srv.url, c.fileId, c.chunkIds[0]!, c.chunks[0]!);
    const done = await stranger.chunk(srv.url, c.fileId, c.chunkIds[1]!, c.chunks[1]!);
    assert.equal(done.body.url, `${srv.url}/upload/${c.fileId}.txt`);
    const res = await fetch(done.body.url!);
    assert.deepEqual(Buffer.from(await res.arrayBuffer()), data);
  } finally {
    await srv.close();
  }
});

it('the sessions of one upload are bounded (maxSessionsPerUpload)', async () => {
  const srv = await startTestServer({ maxSessionsPerUpload: 2 });
  try {
    const c = cut(randomBytesSeeded(1000, 1605), 64 * KiB);
    const plan = { fileId: c.fileId, ext: '.bin', chunkIds: c.chunkIds };
    assert.equal((await owner.handshake(srv.url, plan)).status, 200);
    assert.equal((await stranger.handshake(srv.url, plan)).status, 200);
    const third = await from('127.0.0.4').handshake(srv.url, plan);
    assert.equal(third.status, 429);
    assert.equal(third.body.error, 'TOO_MANY_UPLOADS');
    // A known requester re-handshaking is no new session.
    assert.equal((await owner.handshake(srv.url, plan)).status, 200);
  } finally {
    await srv.close();
  }
});

it('under access control the principal is the requester; caps and quotas stay per client address', async () => {
  const alice = 'alice-token-0123456789abcdef';
  const bob = 'bob-token-0123456789abcdef';
  const auth = (token: string) => ({ authorization: `Bearer ${token}` });
  const srv = await startTestServer({
    auth: 'token',
    authTokens: [`alice:${alice}`, `bob:${bob}`],
    maxUploadsPerClient: 2,
  });
  try {
    // Both tokens come from one address (127.0.0.2): two requesters all the same.
    const data = randomBytesSeeded(2 * 64 * KiB, 1606);
    const c = cut(data, 64 * KiB);
    const plan = { fileId: c.fileId, ext: '.jpg', chunkIds: c.chunkIds, name: 'a.jpg' };
    assert.equal(
      (await owner.call('POST', `${srv.url}/api/upload/handshake`, plan, auth(alice))).status,
      200,
    );
    const first = await owner.call(
      'POST',
      `${srv.url}/api/upload?fileId=${c.fileId}&chunkId=${c.chunkIds[0]}`,
      c.chunks[0]!,
      auth(alice),
    );
    assert.equal(first.status, 200, JSON.stringify(first.body));
    const refused = await owner.call('DELETE', `${srv.url}/api/upload/${c.fileId}`, undefined, auth(bob));
    assert.equal(refused.status, 403);
    assert.equal(refused.body.error, 'FORBIDDEN');
    assert.equal(
      (await owner.call('GET', `${srv.url}/api/upload/${c.fileId}`, undefined, auth(bob))).status,
      404,
    );
    const state = await owner.call('GET', `${srv.url}/api/upload/${c.fileId}`, undefined, auth(alice));
    assert.deepEqual((state.body.data as { held: string[] }).held, [c.chunkIds[0]]);

    // Bob's session of another file is the address's second upload; a third is over its cap.
    const other = cut(randomBytesSeeded(1000, 1607), 64 * KiB);
    const second = { fileId: other.fileId, ext: '.bin', chunkIds: other.chunkIds };
    assert.equal(
      (await owner.call('POST', `${srv.url}/api/upload/handshake`, second, auth(bob))).status,
      200,
    );
    const third = cut(randomBytesSeeded(1000, 1608), 64 * KiB);
    const over = await owner.call(
      'POST',
      `${srv.url}/api/upload/handshake`,
      { fileId: third.fileId, ext: '.bin', chunkIds: third.chunkIds },
      auth(bob),
    );
    assert.equal(over.status, 429);
    assert.equal(over.body.error, 'TOO_MANY_UPLOADS');
  } finally {
    await srv.close();
  }
});
