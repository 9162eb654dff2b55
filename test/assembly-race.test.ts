/**
 * A request that saw an upload complete, whose assembly comes only after another request's
 * assembly published the file and removed the upload (PROTOCOL.md §Chunk upload): the handshake
 * or chunk is answered the link, never a 500; an upload gone with nothing published is answered
 * as a handshake again (the needed chunks) or 404 UPLOAD_NOT_FOUND for a chunk (the client
 * handshakes again), and never with a file its chunks did not make.
 *
 * Each interleaving is made by holding one storage call of one request on a promise the test
 * releases (no sleeps): the real server, real HTTP, real files.
 */
import assert from 'node:assert/strict';
import { rm } from 'node:fs/promises';
import { join } from 'node:path';
import { afterEach, describe, it } from 'node:test';
import type { Assemblies } from '../src/core/assembly.js';
import type { InstantUploadPolicy } from '../src/core/context.js';
import { TransferError } from '../src/protocol/errors.js';
import type { Storage } from '../src/storage/storage.js';
import { type Answer, handshake, sendChunk } from './helpers/api.js';
import { type Chunked, cut, md5, randomBytesSeeded } from './helpers/bytes.js';
import { from } from './helpers/requester.js';
import { startTestServer, type TestServer } from './helpers/server.js';

/** The next call of `storage[method]` waits (before or after the real call) until released. */
function holdNext<K extends 'assemble' | 'writePlan' | 'heldChunks' | 'space'>(
  storage: Storage,
  method: K,
  when: 'before' | 'after',
  /** Which call: the calls before the first it matches pass. */
  matches: (args: unknown[]) => boolean = () => true,
): { reached: Promise<void>; release: () => void } {
  const original = (storage[method] as (...args: unknown[]) => Promise<unknown>).bind(storage);
  let reach!: () => void;
  let release!: () => void;
  const reached = new Promise<void>((r) => {
    reach = r;
  });
  const released = new Promise<void>((r) => {
    release = r;
  });
  (storage as unknown as Record<string, unknown>)[method] = async (...args: unknown[]) => {
    if (!matches(args)) return original(...args);
    // Only this call is held; the next ones are the storage's own.
    (storage as unknown as Record<string, unknown>)[method] = original;
    if (when === 'before') {
      reach();
      await released;
      return original(...args);
    }
    const result = await original(...args);
    reach();
    await released;
    return result;
  };
  return { reached, release };
}

/** Everything but the last chunk, after a handshake that declares the layout (size and chunkSize). */
async function allButLast(srv: TestServer, c: Chunked, layout: { size?: number; chunkSize?: number }) {
  const hs = await handshake(srv.url, { fileId: c.fileId, ext: '.bin', chunkIds: c.chunkIds, ...layout });
  assert.equal(hs.status, 200, JSON.stringify(hs.body));
  for (let i = 0; i < c.chunks.length - 1; i++) {
    const a = await sendChunk(srv.url, { fileId: c.fileId, chunkId: c.chunkIds[i]!, file: c.chunks[i]! });
    assert.equal(a.status, 200, JSON.stringify(a.body));
  }
}

function lastChunk(srv: TestServer, c: Chunked): Promise<Answer> {
  const i = c.chunks.length - 1;
  return sendChunk(srv.url, { fileId: c.fileId, chunkId: c.chunkIds[i]!, file: c.chunks[i]! });
}

async function downloaded(url: string): Promise<string> {
  const res = await fetch(url);
  assert.equal(res.status, 200);
  return md5(Buffer.from(await res.arrayBuffer()));
}

const CHUNK = 64 * 1024;
const policies: InstantUploadPolicy[] = ['open', 'proof', 'off'];
let srv: TestServer | undefined;
afterEach(async () => {
  await srv?.close();
  srv = undefined;
});

describe('a request that saw the upload complete, assembled after another published it', () => {
  for (const policy of policies) {
    it(`a handshake answers the link under 'open', a published file's answer else (instant upload '${policy}', chunks in place)`, async () => {
      srv = await startTestServer({ instantUpload: policy });
      const c = cut(randomBytesSeeded(4 * CHUNK + 100, 71), CHUNK);
      const layout = { size: 4 * CHUNK + 100, chunkSize: CHUNK };
      await allButLast(srv, c, layout);
      const { storage } = srv.running;
      // A: the last chunk; its assembly waits before it starts.
      const first = holdNext(storage, 'assemble', 'before');
      const a = lastChunk(srv, c);
      await first.reached;
      // B: a handshake for the same file reads every chunk held (A has not published yet), and
      // waits there, holding the upload's lock, while A's assembly publishes and removes it.
      const wrote = holdNext(storage, 'writePlan', 'after');
      const b = handshake(srv.url, { fileId: c.fileId, ext: '.bin', chunkIds: c.chunkIds, ...layout });
      await wrote.reached;
      first.release();
      const answerA = await a;
      assert.equal(answerA.status, 200, JSON.stringify(answerA.body));
      assert.ok(answerA.body.url);
      // B's assembly starts only now: the chunks are gone.
      wrote.release();
      const answerB = await b;
      assert.equal(answerB.status, 200, JSON.stringify(answerB.body));
      if (policy === 'open') assert.equal(answerB.body.data, answerA.body.url);
      else {
        // A handshake sends no byte: under 'proof' and 'off' it earns no link by finding the chunks
        // held; it is answered as for a published file (a challenge under 'proof'), never a 500.
        assert.deepEqual(answerB.body.data, c.chunkIds);
        assert.equal(Boolean((answerB.body as { challenge?: unknown }).challenge), policy === 'proof');
      }
      assert.equal(await downloaded(answerA.body.url), c.fileId);
    });

    it(`a last chunk sent twice answers the link both times (instant upload '${policy}')`, async () => {
      srv = await startTestServer({ instantUpload: policy });
      const c = cut(randomBytesSeeded(3 * CHUNK + 7, 72), CHUNK);
      await allButLast(srv, c, {});
      const { storage } = srv.running;
      const first = holdNext(storage, 'assemble', 'before');
      const a = lastChunk(srv, c);
      await first.reached;
      // The same chunk again (a retry whose first answer was lost): it finds every chunk held
      // after its commit, then waits, while A's assembly publishes and removes the upload.
      const read = holdNext(storage, 'heldChunks', 'after', (args) => args[1] !== undefined);
      const again = lastChunk(srv, c);
      await read.reached;
      first.release();
      const answerA = await a;
      assert.equal(answerA.status, 200, JSON.stringify(answerA.body));
      read.release();
      const answerAgain = await again;
      assert.equal(answerAgain.status, 200, JSON.stringify(answerAgain.body));
      assert.deepEqual(answerAgain.body.data, []);
      assert.equal(answerAgain.body.url, answerA.body.url);
    });
  }
});

describe('an upload gone under its assembly with nothing made from its chunks', () => {
  it('a chunk is answered 404 UPLOAD_NOT_FOUND, and the handshake after it asks for every chunk', async () => {
    srv = await startTestServer({ instantUpload: 'proof' });
    const c = cut(randomBytesSeeded(3 * CHUNK, 73), CHUNK);
    const layout = { size: 3 * CHUNK, chunkSize: CHUNK };
    await allButLast(srv, c, layout);
    // The last chunk's assembly waits; meanwhile an operator deletes the upload's folder.
    const held = holdNext(srv.running.storage, 'assemble', 'before');
    const a = lastChunk(srv, c);
    await held.reached;
    await rm(join(srv.dataDir, 'uploads', c.fileId), { recursive: true, force: true });
    held.release();
    const answer = await a;
    assert.equal(answer.status, 404, JSON.stringify(answer.body));
    assert.equal(answer.body.error, 'UPLOAD_NOT_FOUND');
    // What the client does next: a handshake, which asks for every chunk again.
    const hs = await handshake(srv.url, { fileId: c.fileId, ext: '.bin', chunkIds: c.chunkIds, ...layout });
    assert.equal(hs.status, 200, JSON.stringify(hs.body));
    assert.deepEqual(hs.body.data, c.chunkIds);
    for (let i = 0; i < c.chunks.length - 1; i++) {
      await sendChunk(srv.url, { fileId: c.fileId, chunkId: c.chunkIds[i]!, file: c.chunks[i]! });
    }
    const done = await lastChunk(srv, c);
    assert.equal(done.status, 200, JSON.stringify(done.body));
    assert.ok(done.body.url);
    assert.equal(await downloaded(done.body.url), c.fileId);
  });

  it('a handshake that found every chunk held is answered the chunks needed now', async () => {
    srv = await startTestServer({ instantUpload: 'proof' });
    const c = cut(randomBytesSeeded(3 * CHUNK, 74), CHUNK);
    await allButLast(srv, c, {});
    const { storage } = srv.running;
    // The last chunk's assembly fails (the store was busy): every chunk stays held.
    const original = storage.assemble.bind(storage);
    storage.assemble = async () => {
      storage.assemble = original;
      throw new TransferError('STORAGE_UNAVAILABLE');
    };
    const a = await lastChunk(srv, c);
    assert.equal(a.status, 503, JSON.stringify(a.body));
    // A handshake finds every chunk held and assembles; the folder is deleted under it.
    const held = holdNext(storage, 'assemble', 'before');
    const b = handshake(srv.url, { fileId: c.fileId, ext: '.bin', chunkIds: c.chunkIds });
    await held.reached;
    await rm(join(srv.dataDir, 'uploads', c.fileId), { recursive: true, force: true });
    held.release();
    const answer = await b;
    assert.equal(answer.status, 200, JSON.stringify(answer.body));
    assert.deepEqual(answer.body.data, c.chunkIds);
  });

  for (const policy of ['proof', 'off'] as const) {
    it(`a file of the same MD5 published before is not the answer (instant upload '${policy}')`, async () => {
      srv = await startTestServer({ instantUpload: policy });
      const file = cut(randomBytesSeeded(2 * CHUNK, 75), CHUNK);
      await allButLast(srv, file, {});
      const published = await lastChunk(srv, file);
      assert.ok(published.body.url);
      // Someone who knows only the MD5 names it with chunks of its own, which can never make it;
      // its upload goes (here deleted; an abandon or the expiry sweep does the same) before its
      // assembly reads it.
      const junk = randomBytesSeeded(CHUNK, 76);
      const junkId = `${md5(junk)}0`;
      const hs = await handshake(srv.url, { fileId: file.fileId, ext: '.bin', chunkIds: [junkId] });
      assert.equal(hs.status, 200, JSON.stringify(hs.body));
      assert.deepEqual(hs.body.data, [junkId]);
      const held = holdNext(srv.running.storage, 'assemble', 'before');
      const a = sendChunk(srv.url, { fileId: file.fileId, chunkId: junkId, file: junk });
      await held.reached;
      await rm(join(srv.dataDir, 'uploads', file.fileId), { recursive: true, force: true });
      held.release();
      const answer = await a;
      assert.equal(answer.status, 404, JSON.stringify(answer.body));
      assert.equal(answer.body.error, 'UPLOAD_NOT_FOUND');
      assert.equal(answer.body.url, undefined);
    });
  }
});

describe("a plan of other chunks never joins an upload's running assembly", () => {
  for (const policy of ['proof', 'off'] as InstantUploadPolicy[]) {
    it(`junk chunks under a file's MD5, completed while its assembly runs, get no link (instant upload '${policy}')`, async () => {
      srv = await startTestServer({ instantUpload: policy });
      const c = cut(randomBytesSeeded(3 * CHUNK + 11, 74), CHUNK);
      await allButLast(srv, c, {});
      const { storage } = srv.running;
      // The owner's last chunk: its assembly waits before it starts.
      const first = holdNext(storage, 'assemble', 'before');
      const a = lastChunk(srv, c);
      await first.reached;
      // A stranger who knows only the MD5: a plan of one junk chunk under it, sent whole.
      const stranger = from('127.0.0.3');
      const junk = randomBytesSeeded(100, 75);
      const junkId = `${md5(junk)}0`;
      const hs = await stranger.handshake(srv.url, { fileId: c.fileId, ext: '.html', chunkIds: [junkId] });
      assert.equal(hs.status, 200, JSON.stringify(hs.body));
      // The stranger's chunk is filed and its plan is complete while the owner's assembly runs:
      // its request asks for the assembly (seen here) before the owner's is let go.
      const { assemblies } = (srv.running.service as unknown as { core: { assemblies: Assemblies } }).core;
      const once = assemblies.once.bind(assemblies);
      let asked!: () => void;
      const strangerAsked = new Promise<void>((resolve) => {
        asked = resolve;
      });
      assemblies.once = (plan, md5) => {
        const job = once(plan, md5);
        asked();
        return job;
      };
      const theirs = stranger.chunk(srv.url, c.fileId, junkId, junk);
      await strangerAsked;
      first.release();
      const answerA = await a;
      assert.equal(answerA.status, 200, JSON.stringify(answerA.body));
      assert.ok(answerA.body.url);
      const answerB = await theirs;
      assert.equal(answerB.body.url, undefined, `the stranger got ${JSON.stringify(answerB.body)}`);
      assert.notEqual(answerB.status, 200);
      assert.equal(await downloaded(answerA.body.url), c.fileId);
    });
  }
});

describe('a one-chunk file: its plan is known from the MD5 alone', () => {
  for (const policy of ['proof', 'off'] as InstantUploadPolicy[]) {
    it(`a stranger's handshake while the owner's chunk is assembled gets no link (instant upload '${policy}')`, async () => {
      srv = await startTestServer({ instantUpload: policy });
      const data = randomBytesSeeded(CHUNK - 5, 76);
      const c = cut(data, CHUNK);
      assert.deepEqual(c.chunkIds, [`${c.fileId}0`]);
      const hs = await handshake(srv.url, { fileId: c.fileId, ext: '.bin', chunkIds: c.chunkIds });
      assert.equal(hs.status, 200, JSON.stringify(hs.body));
      const { storage } = srv.running;
      const first = holdNext(storage, 'assemble', 'before');
      const a = lastChunk(srv, c);
      await first.reached;
      const { assemblies } = (srv.running.service as unknown as { core: { assemblies: Assemblies } }).core;
      const once = assemblies.once.bind(assemblies);
      let asked!: () => void;
      const strangerAsked = new Promise<void>((resolve) => {
        asked = resolve;
      });
      assemblies.once = (plan, md5) => {
        const job = once(plan, md5);
        asked();
        return job;
      };
      // The stranger knows the MD5 only, so the whole plan: every chunk of it is held.
      const b = from('127.0.0.3').handshake(srv.url, {
        fileId: c.fileId,
        ext: '.html',
        chunkIds: c.chunkIds,
      });
      await strangerAsked;
      first.release();
      const answerA = await a;
      assert.ok(answerA.body.url, JSON.stringify(answerA.body));
      const answerB = await b;
      assert.equal(answerB.status, 200, JSON.stringify(answerB.body));
      assert.deepEqual(answerB.body.data, c.chunkIds, 'no link: the chunk to send');
      assert.equal(Boolean((answerB.body as { challenge?: unknown }).challenge), policy === 'proof');
    });
  }
});
