/**
 * tus 1.0.0 conformance, one test per requirement of the spec (core protocol and the creation,
 * creation-with-upload, creation-defer-length, termination, checksum, expiration and
 * concatenation extensions), against the real server on port 0, on local disk and on S3.
 */
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { after, before, describe, it } from 'node:test';
import { md5, randomBytesSeeded } from './helpers/bytes.js';
import { backends, createTus, metadata, OCTETS, send, TUS } from './helpers/resumable.js';
import type { TestServer } from './helpers/server.js';

const digest = (algo: string, data: Buffer) => createHash(algo).update(data).digest('base64');

for (const backend of backends()) {
  describe(`tus 1.0.0 on ${backend.name}`, { skip: backend.skip, timeout: 120_000 }, () => {
    let s: TestServer;
    before(async () => {
      s = await backend.start({ maxFileSize: 10 * 1024 * 1024 });
    });
    after(() => s?.close());

    it('OPTIONS: 204 with Tus-Version, Tus-Extension (all seven), Tus-Max-Size, Tus-Checksum-Algorithm', async () => {
      const a = await send(`${s.url}/files/`, 'OPTIONS');
      assert.ok(a.status === 204 || a.status === 200);
      assert.equal(a.headers.get('tus-version'), '1.0.0');
      const ext = (a.headers.get('tus-extension') ?? '').split(',');
      const wanted =
        'creation creation-with-upload creation-defer-length termination checksum expiration concatenation';
      for (const e of wanted.split(' ')) assert.ok(ext.includes(e), e);
      assert.equal(a.headers.get('tus-max-size'), String(10 * 1024 * 1024));
      assert.deepEqual((a.headers.get('tus-checksum-algorithm') ?? '').split(','), ['md5', 'sha1', 'sha256']);
    });

    it('a request without Tus-Resumable, or with another version, is 412 with Tus-Version; nothing is created', async () => {
      const none = await send(`${s.url}/files/`, 'POST', { 'Upload-Length': '5' });
      assert.equal(none.status, 412);
      assert.equal(none.headers.get('tus-version'), '1.0.0');
      assert.equal(none.headers.get('location'), null);
      const old = await send(`${s.url}/files/`, 'POST', { 'Tus-Resumable': '0.2.2', 'Upload-Length': '5' });
      assert.equal(old.status, 412);
    });

    it('every response carries Tus-Resumable: 1.0.0', async () => {
      const a = await send(`${s.url}/files/`, 'POST', { ...TUS, 'Upload-Length': '3' });
      assert.equal(a.headers.get('tus-resumable'), '1.0.0');
      const h = await send(a.headers.get('location')!, 'HEAD', TUS);
      assert.equal(h.headers.get('tus-resumable'), '1.0.0');
    });

    it('creation: POST with Upload-Length answers 201 with Location; HEAD then says offset 0 and the length', async () => {
      const a = await send(`${s.url}/files/`, 'POST', { ...TUS, 'Upload-Length': '100' });
      assert.equal(a.status, 201);
      const url = a.headers.get('location')!;
      assert.match(url, /\/files\/[A-Za-z0-9_-]{24}$/);
      const h = await send(url, 'HEAD', TUS);
      assert.equal(h.status, 200);
      assert.equal(h.headers.get('upload-offset'), '0');
      assert.equal(h.headers.get('upload-length'), '100');
    });

    it('creation: neither or both of Upload-Length and Upload-Defer-Length, or a defer value other than 1: 400', async () => {
      for (const headers of [
        {},
        { 'Upload-Length': '5', 'Upload-Defer-Length': '1' },
        { 'Upload-Defer-Length': '2' },
        { 'Upload-Length': '-3' },
      ] as Record<string, string>[]) {
        const a = await send(`${s.url}/files/`, 'POST', { ...TUS, ...headers });
        assert.equal(a.status, 400, JSON.stringify(headers));
      }
    });

    it('creation: Upload-Length over Tus-Max-Size is 413', async () => {
      const a = await send(`${s.url}/files/`, 'POST', {
        ...TUS,
        'Upload-Length': String(10 * 1024 * 1024 + 1),
      });
      assert.equal(a.status, 413);
    });

    it('creation: Upload-Metadata is kept and echoed by HEAD; a malformed one is 400', async () => {
      const meta = `${metadata({ filename: 'report.pdf', filetype: 'application/pdf' })},flag`;
      const url = await createTus(s.url, { 'Upload-Length': '1', 'Upload-Metadata': meta });
      const h = await send(url, 'HEAD', TUS);
      assert.equal(h.headers.get('upload-metadata'), meta);
      for (const bad of ['a b c', 'k !!!!', 'k YQ==,k YQ==', ' , ']) {
        const a = await send(`${s.url}/files/`, 'POST', {
          ...TUS,
          'Upload-Length': '1',
          'Upload-Metadata': bad,
        });
        assert.equal(a.status, 400, bad);
      }
    });

    it('HEAD: Cache-Control no-store, no body; an unknown upload is 404', async () => {
      const url = await createTus(s.url, { 'Upload-Length': '4' });
      const h = await send(url, 'HEAD', TUS);
      assert.equal(h.headers.get('cache-control'), 'no-store');
      const missing = await send(`${s.url}/files/AAAAAAAAAAAAAAAAAAAAAAAA`, 'HEAD', TUS);
      assert.equal(missing.status, 404);
      const nonsense = await send(`${s.url}/files/..%2f..%2fetc`, 'HEAD', TUS);
      assert.equal(nonsense.status, 404);
    });

    it('PATCH: bytes at the offset answer 204 with the new Upload-Offset; the rest completes the upload', async () => {
      const data = randomBytesSeeded(3000, 1);
      const url = await createTus(s.url, { 'Upload-Length': '3000' });
      const a = await send(url, 'PATCH', { ...OCTETS, 'Upload-Offset': '0' }, data.subarray(0, 1000));
      assert.equal(a.status, 204);
      assert.equal(a.headers.get('upload-offset'), '1000');
      const b = await send(url, 'PATCH', { ...OCTETS, 'Upload-Offset': '1000' }, data.subarray(1000));
      assert.equal(b.status, 204);
      assert.equal(b.headers.get('upload-offset'), '3000');
      const got = await fetch(`${s.url}/upload/${md5(data)}`);
      assert.ok(Buffer.from(await got.arrayBuffer()).equals(data));
    });

    it('PATCH: a Content-Type other than application/offset+octet-stream is 415; nothing appended', async () => {
      const url = await createTus(s.url, { 'Upload-Length': '10' });
      const a = await send(
        url,
        'PATCH',
        { ...TUS, 'Content-Type': 'application/octet-stream', 'Upload-Offset': '0' },
        'abc',
      );
      assert.equal(a.status, 415);
      assert.equal((await send(url, 'HEAD', TUS)).headers.get('upload-offset'), '0');
    });

    it('PATCH: an Upload-Offset that is not the upload offset is 409; nothing appended', async () => {
      const url = await createTus(s.url, { 'Upload-Length': '10' });
      await send(url, 'PATCH', { ...OCTETS, 'Upload-Offset': '0' }, 'abc');
      const a = await send(url, 'PATCH', { ...OCTETS, 'Upload-Offset': '1' }, 'xyz');
      assert.equal(a.status, 409);
      assert.equal((await send(url, 'HEAD', TUS)).headers.get('upload-offset'), '3');
    });

    it('PATCH: without Upload-Offset, or a malformed one, is 400', async () => {
      const url = await createTus(s.url, { 'Upload-Length': '10' });
      assert.equal((await send(url, 'PATCH', OCTETS, 'abc')).status, 400);
      assert.equal((await send(url, 'PATCH', { ...OCTETS, 'Upload-Offset': 'x1' }, 'abc')).status, 400);
    });

    it('PATCH: bytes beyond Upload-Length are 413; nothing appended', async () => {
      const url = await createTus(s.url, { 'Upload-Length': '4' });
      const a = await send(url, 'PATCH', { ...OCTETS, 'Upload-Offset': '0' }, 'abcdef');
      assert.equal(a.status, 413);
      assert.equal((await send(url, 'HEAD', TUS)).headers.get('upload-offset'), '0');
    });

    it('PATCH to an unknown upload is 404', async () => {
      const a = await send(
        `${s.url}/files/AAAAAAAAAAAAAAAAAAAAAAAA`,
        'PATCH',
        { ...OCTETS, 'Upload-Offset': '0' },
        'abc',
      );
      assert.equal(a.status, 404);
    });

    it('X-HTTP-Method-Override: a POST that says PATCH is a PATCH', async () => {
      const url = await createTus(s.url, { 'Upload-Length': '3' });
      const a = await send(
        url,
        'POST',
        { ...OCTETS, 'Upload-Offset': '0', 'X-HTTP-Method-Override': 'PATCH' },
        'abc',
      );
      assert.equal(a.status, 204);
      assert.equal(a.headers.get('upload-offset'), '3');
    });

    it('creation-with-upload: a POST with a body answers 201 with the Upload-Offset it accepted', async () => {
      const data = randomBytesSeeded(5000, 2);
      const a = await send(`${s.url}/files/`, 'POST', { ...OCTETS, 'Upload-Length': '8000' }, data);
      assert.equal(a.status, 201);
      assert.equal(a.headers.get('upload-offset'), '5000');
      const h = await send(a.headers.get('location')!, 'HEAD', TUS);
      assert.equal(h.headers.get('upload-offset'), '5000');
    });

    it('creation-defer-length: Upload-Defer-Length: 1 on HEAD until a PATCH declares the length, which then never changes', async () => {
      const url = await createTus(s.url, { 'Upload-Defer-Length': '1' });
      const h = await send(url, 'HEAD', TUS);
      assert.equal(h.headers.get('upload-defer-length'), '1');
      assert.equal(h.headers.get('upload-length'), null);
      const a = await send(url, 'PATCH', { ...OCTETS, 'Upload-Offset': '0' }, 'abc');
      assert.equal(a.status, 204);
      const b = await send(url, 'PATCH', { ...OCTETS, 'Upload-Offset': '3', 'Upload-Length': '6' }, 'de');
      assert.equal(b.status, 204);
      assert.equal((await send(url, 'HEAD', TUS)).headers.get('upload-length'), '6');
      const c = await send(url, 'PATCH', { ...OCTETS, 'Upload-Offset': '5', 'Upload-Length': '7' }, 'f');
      assert.equal(c.status, 400);
      const d = await send(url, 'PATCH', { ...OCTETS, 'Upload-Offset': '5', 'Upload-Length': '6' }, 'f');
      assert.equal(d.status, 204);
      assert.ok((await fetch(`${s.url}/upload/${md5('abcdef')}`)).ok);
    });

    it('termination: DELETE answers 204; the upload is then gone for HEAD and PATCH', async () => {
      const url = await createTus(s.url, { 'Upload-Length': '10' });
      await send(url, 'PATCH', { ...OCTETS, 'Upload-Offset': '0' }, 'abc');
      assert.equal((await send(url, 'DELETE', TUS)).status, 204);
      assert.ok([404, 410].includes((await send(url, 'HEAD', TUS)).status));
      assert.ok(
        [404, 410].includes((await send(url, 'PATCH', { ...OCTETS, 'Upload-Offset': '3' }, 'x')).status),
      );
    });

    it('checksum: a matching md5, sha1 or sha256 Upload-Checksum appends; a mismatch is 460 and appends nothing', async () => {
      const url = await createTus(s.url, { 'Upload-Length': '12' });
      let offset = 0;
      for (const algo of ['md5', 'sha1', 'sha256']) {
        const part = Buffer.from(`${algo}!`.padEnd(4, '.').slice(0, 4));
        const ok = await send(
          url,
          'PATCH',
          { ...OCTETS, 'Upload-Offset': String(offset), 'Upload-Checksum': `${algo} ${digest(algo, part)}` },
          part,
        );
        assert.equal(ok.status, 204, algo);
        offset += 4;
        if (offset === 12) break;
        const bad = await send(
          url,
          'PATCH',
          {
            ...OCTETS,
            'Upload-Offset': String(offset),
            'Upload-Checksum': `${algo} ${digest(algo, Buffer.from('nope'))}`,
          },
          part,
        );
        assert.equal(bad.status, 460, algo);
        assert.equal((await send(url, 'HEAD', TUS)).headers.get('upload-offset'), String(offset));
      }
    });

    it('checksum: an unsupported algorithm is 400, a malformed header 400', async () => {
      const url = await createTus(s.url, { 'Upload-Length': '3' });
      const a = await send(
        url,
        'PATCH',
        { ...OCTETS, 'Upload-Offset': '0', 'Upload-Checksum': 'crc32 AAAAAA==' },
        'abc',
      );
      assert.equal(a.status, 400);
      const b = await send(
        url,
        'PATCH',
        { ...OCTETS, 'Upload-Offset': '0', 'Upload-Checksum': 'md5' },
        'abc',
      );
      assert.equal(b.status, 400);
    });

    it('expiration: Upload-Expires (an HTTP date in the future) on creation and PATCH answers of unfinished uploads', async () => {
      const a = await send(`${s.url}/files/`, 'POST', { ...TUS, 'Upload-Length': '10' });
      const expires = Date.parse(a.headers.get('upload-expires') ?? '');
      assert.ok(expires > Date.now());
      const b = await send(a.headers.get('location')!, 'PATCH', { ...OCTETS, 'Upload-Offset': '0' }, 'abc');
      assert.ok(Date.parse(b.headers.get('upload-expires') ?? '') >= expires - 1000);
    });

    it('concatenation: partial uploads in parallel, then a final one: published as their concatenation', async () => {
      const one = randomBytesSeeded(70_000, 3);
      const two = randomBytesSeeded(50_001, 4);
      const partial = { 'Upload-Concat': 'partial' };
      const [a, b] = await Promise.all([
        createTus(s.url, { ...partial, 'Upload-Length': String(one.length) }),
        createTus(s.url, { ...partial, 'Upload-Length': String(two.length) }),
      ]);
      await Promise.all([
        send(a, 'PATCH', { ...OCTETS, 'Upload-Offset': '0' }, one),
        send(b, 'PATCH', { ...OCTETS, 'Upload-Offset': '0' }, two),
      ]);
      assert.equal((await send(a, 'HEAD', TUS)).headers.get('upload-concat'), 'partial');
      const whole = Buffer.concat([one, two]);
      // A partial upload is never published on its own.
      assert.equal((await fetch(`${s.url}/upload/${md5(one)}`)).status, 404);
      const final = await send(`${s.url}/files/`, 'POST', {
        ...TUS,
        'Upload-Concat': `final;${new URL(a).pathname} ${b}`,
        'Upload-Metadata': metadata({ filename: 'joined.bin' }),
      });
      assert.equal(final.status, 201);
      const h = await send(final.headers.get('location')!, 'HEAD', TUS);
      assert.match(h.headers.get('upload-concat') ?? '', /^final;\/files\/\S+ \/files\/\S+$/);
      assert.equal(h.headers.get('upload-length'), String(whole.length));
      assert.equal(h.headers.get('upload-offset'), String(whole.length));
      const got = await fetch(`${s.url}/upload/${md5(whole)}.bin`);
      assert.ok(Buffer.from(await got.arrayBuffer()).equals(whole));
      const patch = await send(
        final.headers.get('location')!,
        'PATCH',
        { ...OCTETS, 'Upload-Offset': String(whole.length) },
        'x',
      );
      assert.equal(patch.status, 403);
    });

    it('concatenation: a final upload of an unfinished or non-partial upload is 400', async () => {
      const unfinished = await createTus(s.url, { 'Upload-Concat': 'partial', 'Upload-Length': '10' });
      const plain = await createTus(s.url, { 'Upload-Length': '10' });
      for (const parts of [unfinished, plain, `${s.url}/files/AAAAAAAAAAAAAAAAAAAAAAAA`]) {
        const a = await send(`${s.url}/files/`, 'POST', { ...TUS, 'Upload-Concat': `final;${parts}` });
        assert.equal(a.status, 400, parts);
      }
    });

    it('the published file keeps the metadata name (Content-Disposition) and extension; a seed handshake answers its link at once', async () => {
      const data = randomBytesSeeded(2048, 5);
      const url = await createTus(s.url, {
        'Upload-Length': '2048',
        'Upload-Metadata': metadata({ filename: '报告 final.txt' }),
      });
      const a = await send(url, 'PATCH', { ...OCTETS, 'Upload-Offset': '0' }, data);
      const link = /<([^>]+)>; rel="item"/.exec(a.headers.get('link') ?? '')?.[1];
      assert.equal(link, `${s.url}/upload/${md5(data)}.txt`);
      const file = await fetch(link!);
      assert.match(file.headers.get('content-disposition') ?? '', /final\.txt/);
      const hs = await fetch(`${s.url}/api/upload/handshake`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ fileId: md5(data), ext: '.txt', chunkIds: [md5(data)] }),
      });
      const body = (await hs.json()) as { data: unknown };
      assert.equal(body.data, link);
    });

    it('instant upload: a creation whose metadata names a published file (md5, sha256) is complete at once', async () => {
      const data = randomBytesSeeded(4096, 6);
      const first = await createTus(s.url, { 'Upload-Length': '4096' });
      await send(first, 'PATCH', { ...OCTETS, 'Upload-Offset': '0' }, data);
      const sha256 = createHash('sha256').update(data).digest('hex');
      const claim = {
        'Upload-Length': '4096',
        'Upload-Metadata': metadata({ filename: 'x.bin', md5: md5(data), sha256 }),
      };
      // creation-with-upload: the answer's Upload-Offset is the length; the body is not needed.
      const a = await send(`${s.url}/files/`, 'POST', { ...OCTETS, ...claim }, data);
      assert.equal(a.status, 201);
      assert.equal(a.headers.get('upload-offset'), '4096');
      const h = await send(a.headers.get('location')!, 'HEAD', TUS);
      assert.equal(h.headers.get('upload-offset'), h.headers.get('upload-length'));
      // A wrong SHA-256 (or size) claims nothing: an ordinary upload at offset 0.
      const wrong = metadata({ md5: md5(data), sha256: '0'.repeat(64) });
      const b = await send(`${s.url}/files/`, 'POST', {
        ...TUS,
        'Upload-Length': '4096',
        'Upload-Metadata': wrong,
      });
      assert.equal(b.headers.get('upload-offset'), '0');
    });

    it('a second upload of the same bytes is deduplicated: one published file, still byte-exact', async () => {
      const data = randomBytesSeeded(9000, 7);
      for (let i = 0; i < 2; i++) {
        const url = await createTus(s.url, { 'Upload-Length': '9000' });
        const a = await send(url, 'PATCH', { ...OCTETS, 'Upload-Offset': '0' }, data);
        assert.equal(a.status, 204);
      }
      const got = await fetch(`${s.url}/upload/${md5(data)}`);
      assert.ok(Buffer.from(await got.arrayBuffer()).equals(data));
    });

    it('CORS: a preflight allows PATCH and the tus headers; answers expose Upload-Offset and Location', async () => {
      const pre = await send(`${s.url}/files/`, 'OPTIONS', {
        Origin: 'http://app.example',
        'Access-Control-Request-Method': 'PATCH',
        'Access-Control-Request-Headers': 'tus-resumable,upload-offset,content-type',
      });
      assert.ok(pre.status === 204 || pre.status === 200);
      assert.match(pre.headers.get('access-control-allow-methods') ?? '', /PATCH/);
      assert.match(pre.headers.get('access-control-allow-headers') ?? '', /upload-offset/);
      const a = await send(`${s.url}/files/`, 'POST', {
        ...TUS,
        Origin: 'http://app.example',
        'Upload-Length': '1',
      });
      const exposed = a.headers.get('access-control-expose-headers') ?? '';
      for (const h of [
        'Upload-Offset',
        'Location',
        'Upload-Length',
        'Tus-Resumable',
        'Upload-Expires',
        'Upload-Concat',
      ]) {
        assert.ok(exposed.includes(h), h);
      }
    });

    it('a method the resource does not have is 405 with Allow', async () => {
      const a = await send(`${s.url}/files/`, 'GET', TUS);
      assert.equal(a.status, 405);
      assert.match(a.headers.get('allow') ?? '', /POST/);
    });
  });
}
