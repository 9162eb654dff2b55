/**
 * MD5 collisions (issue 16): MD5 names files in the seed protocol, but it must not be the only key
 * to a file's bytes. Two files built from the Wang et al. 2004 collision blocks (the pair printed
 * in the MD5 article of Wikipedia) and a common suffix have one MD5 and two SHA-256s: whichever is
 * published first, a client that declares its SHA-256 (ours) is only ever linked to its own bytes.
 */
import assert from 'node:assert/strict';
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { upload } from '../src/client/node/index.js';
import { TransferError } from '../src/protocol/errors.js';
import { cut, md5, sha256 } from './helpers/bytes.js';
import { linkOf } from './helpers/links.js';
import { from, md5OnlyUpload } from './helpers/requester.js';
import { startTestServer, type TestServer } from './helpers/server.js';

/** Wang, Feng, Lai, Yu (2004): two 128-byte blocks with one MD5 (they differ in 6 bytes). */
const BLOCK_A =
  'd131dd02c5e6eec4693d9a0698aff95c2fcab58712467eab4004583eb8fb7f89' +
  '55ad340609f4b30283e488832571415a085125e8f7cdc99fd91dbdf280373c5b' +
  'd8823e3156348f5bae6dacd436c919c6dd53e2b487da03fd02396306d248cda0' +
  'e99f33420f577ee8ce54b67080a80d1ec69821bcb6a8839396f9652b6ff72a70';
const BLOCK_B =
  'd131dd02c5e6eec4693d9a0698aff95c2fcab50712467eab4004583eb8fb7f89' +
  '55ad340609f4b30283e4888325f1415a085125e8f7cdc99fd91dbd7280373c5b' +
  'd8823e3156348f5bae6dacd436c919c6dd53e23487da03fd02396306d248cda0' +
  'e99f33420f577ee8ce54b67080280d1ec69821bcb6a8839396f965ab6ff72a70';

// A common suffix keeps the collision (the blocks end on a 64-byte boundary with equal states).
const suffix = Buffer.from('%PDF-ish common tail that both twins share\n'.repeat(50));
const A = Buffer.concat([Buffer.from(BLOCK_A, 'hex'), suffix]);
const B = Buffer.concat([Buffer.from(BLOCK_B, 'hex'), suffix]);
const attacker = from('127.0.0.2');

it('the pair is a real MD5 collision: one MD5, two SHA-256s', () => {
  assert.equal(md5(A), md5(B));
  assert.notEqual(sha256(A), sha256(B));
  assert.notDeepEqual(A, B);
});

async function bytesAt(url: string): Promise<Buffer> {
  const res = await fetch(url);
  assert.equal(res.status, 200, url);
  return Buffer.from(await res.arrayBuffer());
}

for (const policy of ['open', 'proof'] as const) {
  describe(`instantUpload '${policy}'`, () => {
    let srv: TestServer;
    let dir: string;
    before(async () => {
      srv = await startTestServer({ instantUpload: policy });
      dir = srv.dataDir;
      await writeFile(join(dir, 'victim.pdf'), B);
      await writeFile(join(dir, 'attacker.pdf'), A);
    });
    after(() => srv.close());

    it('the attacker publishes A; the victim (our client) uploads B and its link serves B', async () => {
      const published = await md5OnlyUpload(attacker, srv.url, A, '.pdf');
      assert.equal(published.body.url, linkOf(srv.url, policy, A, '.pdf'));
      const r = await upload(join(dir, 'victim.pdf'), { server: srv.url, hashCache: false });
      assert.equal(r.instant, false, 'never instant on an MD5 alone');
      assert.equal(r.url, linkOf(srv.url, policy, B, '.pdf', true));
      assert.deepEqual(await bytesAt(r.url), B);
      // Uploading B again is instant (open) or proven (proof): the same link, B's bytes.
      const again = await upload(join(dir, 'victim.pdf'), { server: srv.url, hashCache: false });
      assert.equal(again.instant, true);
      assert.equal(again.url, r.url);
      assert.deepEqual(await bytesAt(again.url), B);
      // The attacker's file stays what MD5-only links name (open); under proof, only its own link
      // serves it (a capability link: upload-link.ts), and the MD5 alone names nothing.
      assert.deepEqual(await bytesAt(linkOf(srv.url, policy, A, '.pdf')), A);
      const plain = await fetch(`${srv.url}/upload/${md5(A)}.pdf`);
      assert.equal(plain.status, policy === 'open' ? 200 : 404);
      await plain.arrayBuffer();
      if (policy === 'proof') {
        // A twin's open-policy link (<md5>-<sha16>) is derivable from its bytes' MD5 and a
        // published prefix: not a capability.
        const twin = await fetch(`${srv.url}/upload/${md5(B)}-${sha256(B).slice(0, 16)}.pdf`);
        assert.equal(twin.status, 404);
        await twin.arrayBuffer();
      }
      // A key whose SHA-256 prefix is not the file's serves nothing.
      assert.equal((await fetch(`${srv.url}/upload/${md5(A)}-${'0'.repeat(16)}.pdf`)).status, 404);
    });
  });
}

describe('chunks planted under the victim’s SHA-256', () => {
  let srv: TestServer;
  before(async () => {
    srv = await startTestServer();
  });
  after(() => srv.close());

  it('are never assembled into the victim’s file: the upload is dropped, a retry gets B', async () => {
    // The attacker declares B's SHA-256 but sends A's bytes (same chunk MD5: one 64 KiB chunk).
    const c = cut(A, 1024 * 1024);
    const hs = await attacker.handshake(srv.url, {
      fileId: c.fileId,
      ext: '.pdf',
      chunkIds: c.chunkIds,
      sha256: sha256(B),
      size: A.length,
      chunkSize: 1024 * 1024,
    });
    assert.deepEqual(hs.body.data, c.chunkIds);
    const planted = await attacker.chunk(srv.url, c.fileId, c.chunkIds[0]!, c.chunks[0]!, sha256(B));
    assert.equal(planted.status, 422, 'the SHA-256 the attacker declared is checked at assembly');
    assert.equal(planted.body.error, 'FILE_SHA256_MISMATCH');

    // Planted while the victim's session is open: its last chunk assembles and finds them wrong.
    const path = join(srv.dataDir, 'victim.pdf');
    await writeFile(path, B);
    const hs2 = await attacker.handshake(srv.url, {
      fileId: c.fileId,
      ext: '.pdf',
      chunkIds: [`${'0'.repeat(32)}0`, ...c.chunkIds],
      sha256: sha256(B),
    });
    assert.equal(hs2.status, 200);
    await attacker.chunk(srv.url, c.fileId, c.chunkIds[0]!, c.chunks[0]!, sha256(B));
    const first = await upload(path, { server: srv.url, hashCache: false, chunkSize: 1024 * 1024 }).then(
      (r) => r,
      (err: unknown) => err,
    );
    if (first instanceof TransferError) assert.equal(first.code, 'FILE_SHA256_MISMATCH');
    else assert.deepEqual(await bytesAt((first as { url: string }).url), B);
    const r = await upload(path, { server: srv.url, hashCache: false, chunkSize: 1024 * 1024 });
    assert.deepEqual(await bytesAt(r.url), B);
  });
});
