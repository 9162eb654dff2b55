/**
 * Instant upload that gives nothing away (issue 16): under instantUpload 'proof' a stranger who
 * knows only a published file's MD5 gets no link, no size and no state; a client that holds the
 * bytes answers the server's challenge and gets the link; a challenge is single-use and bound to
 * its requester; the course's client (which cannot answer) uploads normally and gets its link.
 */
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { mkdir, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { blobSource } from '../src/client/browser/blob-source.js';
import { wasmSha256 } from '../src/client/browser/wasm-md5.js';
import { answerChallenge } from '../src/client/core/upload.js';
import { upload } from '../src/client/node/index.js';
import { defaultInstantUpload } from '../src/core/context.js';
import { PROOF_RANGES, ProofChallenges, proofDigest } from '../src/core/proof.js';
import type { ProofChallenge } from '../src/protocol/types.js';
import {
  type AuthRequest,
  allow,
  type RunningServer,
  signUploadToken,
  startServer,
} from '../src/server/index.js';
import { cut, md5, randomBytesSeeded, sha256 } from './helpers/bytes.js';
import { linkOf } from './helpers/links.js';
import { from, md5OnlyUpload } from './helpers/requester.js';
import { metadata, OCTETS, send, TUS } from './helpers/resumable.js';
import { startTestServer, type TestServer, tempDir } from './helpers/server.js';

const KiB = 1024;
const publisher = from('127.0.0.2');
const stranger = from('127.0.0.3');
const holder = from('127.0.0.4');

function proofOf(data: Buffer, challenge: ProofChallenge): string {
  const h = createHash('sha256').update(challenge.nonce, 'utf8');
  for (const [start, end] of challenge.ranges) h.update(data.subarray(start, end + 1));
  return h.digest('hex');
}

describe("instantUpload 'proof'", () => {
  let srv: TestServer;
  // Over PROOF_RANGES × PROOF_RANGE_BYTES, so the ranges are a sample of the file.
  const data = randomBytesSeeded(300 * KiB + 7, 1611);
  const fileId = md5(data);
  before(async () => {
    srv = await startTestServer({ instantUpload: 'proof' });
    const done = await md5OnlyUpload(publisher, srv.url, data, '.pdf');
    assert.equal(done.body.url, linkOf(srv.url, 'proof', data, '.pdf'));
  });
  after(() => srv.close());

  it('a stranger knowing only the MD5 gets no link, no size, no state', async () => {
    const hs = await stranger.call('POST', `${srv.url}/api/upload/handshake`, {
      fileId,
      ext: '.pdf',
      chunkIds: [`${fileId}0`],
    });
    assert.equal(hs.status, 200);
    assert.ok(Array.isArray(hs.body.data), 'the needed chunks, not a link');
    assert.notEqual(hs.body.msg, '秒传成功');
    assert.doesNotMatch(hs.raw.toString(), /\/upload\//, 'no link anywhere in the answer');
    const challenge = (hs.body as { challenge?: ProofChallenge }).challenge;
    assert.ok(challenge, 'a challenge for a client that holds the file');
    // Without the bytes, any answer is refused, and spends the challenge.
    const guess = await stranger.call('POST', `${srv.url}/api/upload/proof`, {
      fileId,
      ext: '.pdf',
      nonce: challenge.nonce,
      proof: 'a'.repeat(64),
    });
    assert.equal(guess.status, 403);
    assert.equal(guess.body.error, 'PROOF_FAILED');
    // The state tells its own session only: nothing of the published file.
    const state = await stranger.call('GET', `${srv.url}/api/upload/${fileId}`);
    assert.doesNotMatch(state.raw.toString(), /complete|\/upload\/|307207/);
    // Sending bytes of its choice under the MD5 publishes nothing and links nothing.
    const junk = Buffer.from('not the file');
    await stranger.handshake(srv.url, { fileId, ext: '.pdf', chunkIds: [`${md5(junk)}0`] });
    const forged = await stranger.chunk(srv.url, fileId, `${md5(junk)}0`, junk);
    assert.equal(forged.status, 422);
    assert.equal(forged.body.error, 'FILE_MD5_MISMATCH');
    assert.equal(forged.body.url, undefined);
  });

  it('a holder proves it and gets the link; the nonce is single-use and bound to its requester', async () => {
    const c = cut(data, 64 * KiB);
    const hs = await holder.handshake(srv.url, { fileId, ext: '.pdf', chunkIds: c.chunkIds });
    const challenge = (hs.body as { challenge?: ProofChallenge }).challenge!;
    assert.ok(challenge.ranges.length > 1);
    const proof = proofOf(data, challenge);
    const body = { fileId, ext: '.pdf', nonce: challenge.nonce, proof };
    // Another requester cannot use it (and spends nothing of the holder's: a fresh handshake next).
    const other = await stranger.call('POST', `${srv.url}/api/upload/proof`, body);
    assert.equal(other.status, 403);
    const again = await holder.handshake(srv.url, { fileId, ext: '.pdf', chunkIds: c.chunkIds });
    const fresh = (again.body as { challenge?: ProofChallenge }).challenge!;
    const answer = { fileId, ext: '.pdf', nonce: fresh.nonce, proof: proofOf(data, fresh) };
    const ok = await holder.call('POST', `${srv.url}/api/upload/proof`, answer);
    assert.equal(ok.status, 200, JSON.stringify(ok.body));
    assert.equal(ok.body.data, linkOf(srv.url, 'proof', data, '.pdf'));
    assert.equal(ok.body.msg, '秒传成功');
    const reused = await holder.call('POST', `${srv.url}/api/upload/proof`, answer);
    assert.equal(reused.status, 403, 'a nonce answers once');
    assert.equal(reused.body.error, 'PROOF_FAILED');
    // A challenge is bound to the ext its handshake asked for.
    const third = await holder.handshake(srv.url, { fileId, ext: '.pdf', chunkIds: c.chunkIds });
    const other3 = (third.body as { challenge?: ProofChallenge }).challenge!;
    const asHtml = { fileId, ext: '.html', nonce: other3.nonce, proof: proofOf(data, other3) };
    assert.equal(
      (await holder.call('POST', `${srv.url}/api/upload/proof`, asHtml)).body.error,
      'PROOF_FAILED',
    );
  });

  it('our library answers the challenge: instant, no chunk sent', async () => {
    const path = join(srv.dataDir, 'local-copy.pdf');
    await writeFile(path, data);
    const r = await upload(path, { server: srv.url, hashCache: false, chunkSize: 64 * KiB });
    assert.equal(r.instant, true);
    assert.equal(r.bytesSent, 0);
    const res = await fetch(r.url);
    assert.deepEqual(Buffer.from(await res.arrayBuffer()), data);
  });

  it('a tus creation naming the file (md5, sha256) is not complete at once: the bytes are uploaded', async () => {
    const claim = {
      'Upload-Length': String(data.length),
      'Upload-Metadata': metadata({ filename: 'x.pdf', md5: fileId, sha256: sha256(data) }),
    };
    const created = await send(`${srv.url}/files/`, 'POST', { ...TUS, ...claim });
    assert.equal(created.status, 201);
    assert.equal(created.headers.get('upload-offset'), '0', 'no proof in tus: an ordinary upload');
    assert.equal(created.headers.get('link'), null, 'no link to the published file');
    const head = await send(created.headers.get('location')!, 'HEAD', TUS);
    assert.equal(head.headers.get('upload-offset'), '0');
    const done = await send(
      created.headers.get('location')!,
      'PATCH',
      { ...OCTETS, 'Upload-Offset': '0' },
      data,
    );
    assert.equal(done.status, 204, 'the bytes make it complete, as for any upload');
  });

  it("the course's client, which cannot answer, uploads normally and is answered its link", async () => {
    const last = await md5OnlyUpload(from('127.0.0.5'), srv.url, data, '.pdf');
    assert.deepEqual(last.body.data, []);
    const link = linkOf(srv.url, 'proof', data, '.pdf');
    assert.equal(last.body.url, link);
    assert.deepEqual(Buffer.from(await (await fetch(link)).arrayBuffer()), data);
    // The link it would build from the MD5 itself names nothing under proof (docs/security.md).
    assert.equal((await fetch(`${srv.url}/upload/${fileId}.pdf`)).status, 404);
  });
});

it("instantUpload 'off' never answers a link nor a challenge; 'open' is the seed's", async () => {
  const data = randomBytesSeeded(5000, 1612);
  const c = cut(data, 64 * KiB);
  const off = await startTestServer({ instantUpload: 'off' });
  try {
    await md5OnlyUpload(publisher, off.url, data, '.bin');
    const hs = await stranger.handshake(off.url, { fileId: c.fileId, ext: '.bin', chunkIds: c.chunkIds });
    assert.deepEqual(hs.body.data, c.chunkIds);
    assert.equal((hs.body as { challenge?: unknown }).challenge, undefined);
  } finally {
    await off.close();
  }
  const open = await startTestServer();
  try {
    await md5OnlyUpload(publisher, open.url, data, '.bin');
    const hs = await stranger.handshake(open.url, { fileId: c.fileId, ext: '.bin', chunkIds: c.chunkIds });
    assert.equal(hs.body.data, `${open.url}/upload/${c.fileId}.bin`, 'open on loopback by default');
  } finally {
    await open.close();
  }
  assert.equal(defaultInstantUpload('127.0.0.1'), 'open');
  assert.equal(defaultInstantUpload('::1'), 'open');
  assert.equal(defaultInstantUpload('0.0.0.0'), 'proof');
  assert.equal(defaultInstantUpload('::'), 'proof');
});

it('outstanding challenges are bounded (maxProofChallenges): the oldest are forgotten', async () => {
  const srv = await startTestServer({ instantUpload: 'proof', maxProofChallenges: 2 });
  try {
    const data = randomBytesSeeded(3000, 1613);
    const c = cut(data, 64 * KiB);
    await md5OnlyUpload(publisher, srv.url, data, '.bin');
    const nonces: ProofChallenge[] = [];
    for (const who of [holder, stranger, from('127.0.0.6')]) {
      const hs = await who.handshake(srv.url, { fileId: c.fileId, ext: '.bin', chunkIds: c.chunkIds });
      nonces.push((hs.body as { challenge?: ProofChallenge }).challenge!);
    }
    const first = await holder.call('POST', `${srv.url}/api/upload/proof`, {
      fileId: c.fileId,
      ext: '.bin',
      nonce: nonces[0]!.nonce,
      proof: proofOf(data, nonces[0]!),
    });
    assert.equal(first.status, 403, 'forgotten past the bound');
    const last = await from('127.0.0.6').call('POST', `${srv.url}/api/upload/proof`, {
      fileId: c.fileId,
      ext: '.bin',
      nonce: nonces[2]!.nonce,
      proof: proofOf(data, nonces[2]!),
    });
    assert.equal(last.status, 200);
  } finally {
    await srv.close();
  }
});

it('the browser path answers a challenge like the server checks it (Blob slices, hash-wasm SHA-256)', async () => {
  const data = randomBytesSeeded(200 * KiB + 3, 1614);
  const challenges = new ProofChallenges(4);
  const file = {
    fileId: md5(data),
    key: md5(data),
    size: data.length,
    sha256: null,
    name: null,
    ext: null,
    mtime: new Date(),
  };
  const challenge = challenges.issue(file, 'someone', '.bin', file.key);
  assert.equal(challenge.ranges.length, PROOF_RANGES);
  const source = blobSource(new Blob([data as Uint8Array<ArrayBuffer>]), 'x.bin');
  const answer = await answerChallenge(source, challenge, wasmSha256);
  assert.equal(
    answer,
    proofDigest(
      challenge.nonce,
      challenge.ranges.map(([s, e]) => data.subarray(s, e + 1)),
    ),
  );
  // A range outside the file (a forged challenge) is not answered.
  assert.equal(
    await answerChallenge(source, { ...challenge, ranges: [[0, data.length]] }, wasmSha256),
    undefined,
  );
  // Nor one that would make us read more than a sample (the whole file here, over 1 MiB).
  const big = blobSource(new Blob([new Uint8Array(2 * 1024 * 1024)]), 'big.bin');
  assert.equal(
    await answerChallenge(big, { ...challenge, ranges: [[0, 2 * 1024 * 1024 - 1]] }, wasmSha256),
    undefined,
  );
  const many = Array.from({ length: 65 }, (_, i): [number, number] => [i, i]);
  assert.equal(await answerChallenge(source, { ...challenge, ranges: many }, wasmSha256), undefined);
});

describe('the proof route: asked of access control as a handshake, its body bounded', () => {
  const calls: { action: string; fileId: string | undefined; phase: string; size: number | undefined }[] = [];
  let running: RunningServer;
  let dir: string;
  const data = randomBytesSeeded(100 * KiB + 3, 1615);
  const c = cut(data, 64 * KiB);
  const as = (user: string) => ({ 'x-user': user });
  before(async () => {
    dir = await tempDir();
    await mkdir(join(dir, 'lib'));
    running = await startServer(
      { port: 0, logLevel: 'silent', dataDir: dir, libraryDirs: [join(dir, 'lib')], instantUpload: 'proof' },
      {
        authorize: (r: AuthRequest) => {
          if (r.action === 'handshake')
            calls.push({ action: r.action, fileId: r.fileId, phase: r.phase, size: r.size });
          // Mallory may handshake, not prove: the proof is asked of the hook itself.
          const proving = r.request.url?.startsWith('/api/upload/proof');
          if (r.request.headers['x-user'] === 'mallory' && proving && r.phase === 'body') return false;
          return allow(String(r.request.headers['x-user'] ?? 'anonymous'));
        },
      },
    );
    const plan = { fileId: c.fileId, ext: '.bin', chunkIds: c.chunkIds };
    await publisher.call('POST', `${running.url}/api/upload/handshake`, plan, as('publisher'));
    for (let i = 0; i < c.chunks.length; i++) {
      const url = `${running.url}/api/upload?fileId=${c.fileId}&chunkId=${c.chunkIds[i]}`;
      await publisher.call('POST', url, c.chunks[i]!, as('publisher'));
    }
  });
  after(async () => {
    await running.close();
    await rm(dir, { recursive: true, force: true });
  });

  async function challenge(user: string): Promise<ProofChallenge> {
    const plan = { fileId: c.fileId, ext: '.bin', chunkIds: c.chunkIds, size: data.length };
    const hs = await holder.call('POST', `${running.url}/api/upload/handshake`, plan, as(user));
    return (hs.body as { challenge?: ProofChallenge }).challenge!;
  }

  it('the hook sees the proof as a handshake, with its fileId and size; a refusal is 403 FORBIDDEN', async () => {
    const ch = await challenge('holder');
    calls.length = 0;
    const answer = {
      fileId: c.fileId,
      ext: '.bin',
      size: data.length,
      nonce: ch.nonce,
      proof: proofOf(data, ch),
    };
    const ok = await holder.call('POST', `${running.url}/api/upload/proof`, answer, as('holder'));
    assert.equal(ok.status, 200, JSON.stringify(ok.body));
    assert.deepEqual(calls, [
      { action: 'handshake', fileId: undefined, phase: 'headers', size: undefined },
      { action: 'handshake', fileId: c.fileId, phase: 'body', size: data.length },
    ]);
    const ch2 = await challenge('mallory');
    const refused = await holder.call(
      'POST',
      `${running.url}/api/upload/proof`,
      { ...answer, nonce: ch2.nonce, proof: proofOf(data, ch2) },
      as('mallory'),
    );
    assert.equal(refused.status, 403);
    assert.equal(refused.body.error, 'FORBIDDEN');
    // A size that is not the file's is no proof.
    const ch3 = await challenge('holder');
    const wrongSize = await holder.call(
      'POST',
      `${running.url}/api/upload/proof`,
      { ...answer, size: 1, nonce: ch3.nonce, proof: proofOf(data, ch3) },
      as('holder'),
    );
    assert.equal(wrongSize.body.error, 'PROOF_FAILED');
  });

  it('a proof body is capped (413), shape-guarded before parsing and JSON only (415)', async () => {
    const url = `${running.url}/api/upload/proof`;
    const big = await holder.call('POST', url, { fileId: c.fileId, pad: 'x'.repeat(5000) }, as('holder'));
    assert.equal(big.status, 413);
    assert.equal(big.body.error, 'BODY_TOO_LARGE');
    const deep = await holder.call('POST', url, Buffer.from(`{"fileId":${'['.repeat(100)}`), {
      ...as('holder'),
      'content-type': 'application/json',
    });
    assert.equal(deep.status, 400);
    assert.equal(deep.body.error, 'MALFORMED_BODY');
    const form = await holder.call('POST', url, Buffer.from('fileId=x'), {
      ...as('holder'),
      'content-type': 'application/x-www-form-urlencoded',
    });
    assert.equal(form.status, 415);
  });
});

it('our client proves under a size-bound signed token (it sends the size the token is checked against)', async () => {
  const secret = 'a-test-secret-of-at-least-32-bytes-long!';
  const srv = await startTestServer({ instantUpload: 'proof', auth: 'signed', authSecret: secret });
  try {
    const data = randomBytesSeeded(90 * KiB, 1616);
    const token = signUploadToken(secret, { exp: Date.now() / 1000 + 3600, max: data.length });
    const headers = { authorization: `Bearer ${token}` };
    const path = join(srv.dataDir, 'mine.bin');
    await writeFile(path, data);
    const first = await upload(path, { server: srv.url, hashCache: false, chunkSize: 64 * KiB, headers });
    assert.equal(first.instant, false);
    const again = await upload(path, { server: srv.url, hashCache: false, chunkSize: 64 * KiB, headers });
    assert.equal(again.instant, true, 'proved, not uploaded');
    assert.equal(again.bytesSent, 0);
  } finally {
    await srv.close();
  }
});
