/** The Range semantics list of the downloads issue, item by item, on /download and /upload. */
import assert from 'node:assert/strict';
import { mkdir, open, rename, symlink, truncate, writeFile } from 'node:fs/promises';
import { request } from 'node:http';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { handshake, sendChunk } from './helpers/api.js';
import { cut, md5, randomBytesSeeded } from './helpers/bytes.js';
import { startTestServer, type TestServer, tempDir } from './helpers/server.js';

let srv: TestServer;
let lib: string;
let outside: string;
const data = randomBytesSeeded(100_000, 81);
const FIVE_GIB = 5 * 1024 ** 3;
let uploadedUrl: string;

before(async () => {
  lib = await tempDir('rt-lib-');
  outside = await tempDir('rt-out-');
  await writeFile(join(lib, 'data.bin'), data);
  await writeFile(join(lib, 'empty.txt'), '');
  await writeFile(join(lib, 'my file 文件.bin'), data.subarray(0, 10));
  await writeFile(join(lib, 'line\r\nbreak"quote.txt'), 'x');
  await writeFile(join(lib, '.hidden'), 'secret');
  await mkdir(join(lib, 'folder'));
  await writeFile(join(outside, 'secret.txt'), 'secret');
  await symlink(join(outside, 'secret.txt'), join(lib, 'escape.txt'));
  await symlink(join(lib, 'data.bin'), join(lib, 'alias.bin'));
  const sparse = join(lib, 'sparse.bin');
  await truncate(await writeFile(sparse, '').then(() => sparse), FIVE_GIB);
  const fh = await open(sparse, 'r+');
  await fh.write(Buffer.from('MARKER-4.5GiB'), 0, 13, 4.5 * 1024 ** 3);
  await fh.close();
  srv = await startTestServer({ libraryDirs: [lib] });
  const c = cut(data, 40_000);
  await handshake(srv.url, { fileId: c.fileId, ext: '.bin', chunkIds: c.chunkIds });
  for (const [i, chunk] of c.chunks.entries()) {
    await sendChunk(srv.url, { fileId: c.fileId, chunkId: c.chunkIds[i]!, file: chunk });
  }
  uploadedUrl = `${srv.url}/upload/${c.fileId}.bin`;
});
after(() => srv.close());

async function get(url: string, headers: Record<string, string> = {}, method = 'GET') {
  const res = await fetch(url, { method, headers });
  const body = Buffer.from(await res.arrayBuffer());
  return { status: res.status, h: res.headers, body };
}

const routes = () =>
  [
    ['/download', `${srv.url}/download/data.bin`],
    ['/upload', uploadedUrl],
  ] as const;

describe('range semantics', () => {
  for (const which of ['/download', '/upload'] as const) {
    const url = () => routes().find((r) => r[0] === which)![1];

    it(`${which} 1-2: HEAD mirrors GET without a body; Accept-Ranges everywhere; 200 never chunked`, async () => {
      const g = await get(url());
      const h = await get(url(), {}, 'HEAD');
      assert.equal(g.status, 200);
      assert.equal(h.status, 200);
      assert.equal(h.body.length, 0);
      assert.equal(h.h.get('content-length'), String(data.length));
      for (const k of [
        'content-length',
        'etag',
        'last-modified',
        'content-type',
        'content-disposition',
        'accept-ranges',
        'cache-control',
      ]) {
        assert.equal(h.h.get(k), g.h.get(k), k);
      }
      assert.equal(g.h.get('accept-ranges'), 'bytes');
      assert.equal(g.h.get('transfer-encoding'), null);
      assert.deepEqual(g.body, data);
      const r = await get(url(), { range: 'bytes=0-0' });
      assert.equal(r.h.get('accept-ranges'), 'bytes');
    });

    it(`${which} 3-4: single ranges, open ends, suffixes, clamping`, async () => {
      const a = await get(url(), { range: 'bytes=0-4999' });
      assert.equal(a.status, 206);
      assert.equal(a.h.get('content-range'), `bytes 0-4999/${data.length}`);
      assert.equal(a.h.get('content-length'), '5000');
      assert.deepEqual(a.body, data.subarray(0, 5000));
      const b = await get(url(), { range: 'bytes=99000-' });
      assert.deepEqual(b.body, data.subarray(99000));
      assert.equal(b.h.get('content-range'), `bytes 99000-99999/${data.length}`);
      const c = await get(url(), { range: 'bytes=-500' });
      assert.deepEqual(c.body, data.subarray(-500));
      const d = await get(url(), { range: 'bytes=-200000' });
      assert.equal(d.status, 206);
      assert.deepEqual(d.body, data);
      const e = await get(url(), { range: 'bytes=99990-200000' });
      assert.equal(e.h.get('content-range'), `bytes 99990-99999/${data.length}`);
    });

    it(`${which} 5-6: unsatisfiable → 416 with */LEN, ETag, Accept-Ranges; 20-digit numbers are safe`, async () => {
      for (const range of [
        `bytes=${data.length}-`,
        'bytes=200000-300000',
        'bytes=-0',
        'bytes=99999999999999999999-',
      ]) {
        const r = await get(url(), { range });
        assert.equal(r.status, 416, range);
        assert.equal(r.h.get('content-range'), `bytes */${data.length}`);
        assert.ok(r.h.get('etag'));
        assert.equal(r.h.get('accept-ranges'), 'bytes');
      }
      const big = await get(url(), { range: 'bytes=0-99999999999999999999' });
      assert.equal(big.status, 206);
      assert.deepEqual(big.body, data);
      const suffix = await get(url(), { range: 'bytes=-99999999999999999999' });
      assert.deepEqual(suffix.body, data);
    });

    it(`${which} 7: malformed ranges → 200 whole file; BYTES= and spaces accepted`, async () => {
      for (const range of [
        'abc',
        'bytes=5-2',
        '',
        'bytes=',
        'items=0-5',
        'bytes=a-b',
        'bytes=1-2-3',
        'bytes=--5',
      ]) {
        const r = await get(url(), { range });
        assert.equal(r.status, 200, JSON.stringify(range));
        assert.equal(r.body.length, data.length);
      }
      const up = await get(url(), { range: 'BYTES= 0-9 , 20-29' });
      assert.equal(up.status, 206);
    });

    it(`${which} 8: several ranges → exact multipart/byteranges; merged; abusive → 200`, async () => {
      const r = await get(url(), { range: 'bytes=0-9, 50-59, 55-70, 71-80, -5' });
      assert.equal(r.status, 206);
      const type = r.h.get('content-type') ?? '';
      const boundary = /boundary=(\S+)/.exec(type)?.[1];
      assert.ok(type.startsWith('multipart/byteranges') && boundary);
      assert.equal(Number(r.h.get('content-length')), r.body.length);
      const parts = r.body.toString('latin1').split(`--${boundary}`).slice(1, -1);
      assert.equal(parts.length, 3, 'overlapping and adjacent ranges merged');
      const expect = [
        [0, 9],
        [50, 80],
        [data.length - 5, data.length - 1],
      ];
      for (const [i, part] of parts.entries()) {
        const [head, body] = part.split('\r\n\r\n') as [string, string];
        const [s, e] = expect[i]!;
        assert.match(head, /Content-Type: application\/octet-stream/);
        assert.match(head, new RegExp(`Content-Range: bytes ${s}-${e}/${data.length}`));
        assert.deepEqual(Buffer.from(body.slice(0, e! - s! + 1), 'latin1'), data.subarray(s, e! + 1));
      }
      assert.ok(r.body.toString('latin1').endsWith(`--${boundary}--\r\n`));
      const single = await get(url(), { range: 'bytes=0-9,10-19' });
      assert.equal(
        single.h.get('content-range'),
        `bytes 0-19/${data.length}`,
        'merged into one: not multipart',
      );
      const many = Array.from({ length: 200 }, (_, i) => `${i * 10}-${i * 10 + 1}`).join(',');
      assert.equal((await get(url(), { range: `bytes=${many}` })).status, 200);
      assert.equal((await get(url(), { range: 'bytes=0-,0-,0-' })).status, 200, 'more bytes than the file');
    });

    it(`${which} 9-10: strong stable ETag; a 206 repeats validators; If-Range`, async () => {
      const full = await get(url());
      const etag = full.h.get('etag')!;
      assert.match(etag, /^"[^"]+"$/, 'strong');
      const part = await get(url(), { range: 'bytes=0-9' });
      for (const k of ['etag', 'last-modified', 'cache-control', 'date']) assert.ok(part.h.get(k), k);
      const ok = await get(url(), { range: 'bytes=0-9', 'if-range': etag });
      assert.equal(ok.status, 206);
      const lm = full.h.get('last-modified')!;
      assert.equal((await get(url(), { range: 'bytes=0-9', 'if-range': lm })).status, 206);
      for (const bad of ['"old-etag"', `W/${etag}`, new Date(Date.parse(lm) - 1000).toUTCString()]) {
        const r = await get(url(), { range: 'bytes=0-9', 'if-range': bad });
        assert.equal(r.status, 200, bad);
        assert.equal(r.body.length, data.length);
        assert.equal(r.h.get('etag'), etag);
      }
      const noRange = await get(url(), { 'if-range': '"old"' });
      assert.equal(noRange.status, 200);
    });

    it(`${which} 11: If-None-Match/If-Modified-Since → 304; If-Match failure → 412`, async () => {
      const full = await get(url());
      const etag = full.h.get('etag')!;
      assert.equal((await get(url(), { 'if-none-match': etag })).status, 304);
      assert.equal((await get(url(), { 'if-none-match': `W/${etag}` })).status, 304);
      assert.equal((await get(url(), { 'if-modified-since': full.h.get('last-modified')! })).status, 304);
      assert.equal((await get(url(), { 'if-none-match': '"other"' })).status, 200);
      assert.equal((await get(url(), { 'if-match': '"other"' })).status, 412);
      assert.equal((await get(url(), { 'if-match': '"other"', range: 'bytes=0-1' })).status, 412);
      assert.equal((await get(url(), { 'if-match': etag, range: 'bytes=0-1' })).status, 206);
    });

    it(`${which} 12, 14: Range ignored on HEAD; no Content-Encoding; no-transform`, async () => {
      const h = await get(url(), { range: 'bytes=0-9' }, 'HEAD');
      assert.equal(h.status, 200);
      assert.equal(h.h.get('content-range'), null);
      const g = await get(url(), { 'accept-encoding': 'gzip, br', range: 'bytes=0-99' });
      assert.equal(g.h.get('content-encoding'), null);
      assert.match(g.h.get('cache-control') ?? '', /no-transform/);
    });

    it(`${which} 16: CORS exposes the range headers; a preflight for Range works`, async () => {
      const pre = await fetch(url(), {
        method: 'OPTIONS',
        headers: {
          origin: 'http://x.example',
          'access-control-request-method': 'GET',
          'access-control-request-headers': 'range,if-range',
        },
      });
      assert.equal(pre.status, 204);
      assert.match(pre.headers.get('access-control-allow-headers') ?? '', /range/);
      const g = await get(url(), { origin: 'http://x.example', range: 'bytes=0-1' });
      assert.equal(g.h.get('access-control-allow-origin'), '*');
      assert.match(g.h.get('access-control-expose-headers') ?? '', /Content-Range.*ETag.*Accept-Ranges/);
    });
  }

  it('12: an empty file with a Range → 200, Content-Length 0', async () => {
    const r = await get(`${srv.url}/download/empty.txt`, { range: 'bytes=0-10' });
    assert.equal(r.status, 200);
    assert.equal(r.h.get('content-length'), '0');
  });

  it('6: offsets above 4 GiB work (sparse file)', async () => {
    const at = 4.5 * 1024 ** 3;
    const r = await get(`${srv.url}/download/sparse.bin`, { range: `bytes=${at}-${at + 12}` });
    assert.equal(r.status, 206);
    assert.equal(r.body.toString(), 'MARKER-4.5GiB');
    assert.equal(r.h.get('content-range'), `bytes ${at}-${at + 12}/${FIVE_GIB}`);
    const h = await get(`${srv.url}/download/sparse.bin`, {}, 'HEAD');
    assert.equal(h.h.get('content-length'), String(FIVE_GIB));
  });

  it('13: Content-Disposition attachment with ASCII filename and RFC 8187 filename*; inline for uploads', async () => {
    const a = await get(`${srv.url}/download/${encodeURIComponent('my file 文件.bin')}`, {}, 'HEAD');
    assert.equal(a.status, 200);
    assert.equal(
      a.h.get('content-disposition'),
      `attachment; filename="my file __.bin"; filename*=UTF-8''my%20file%20%E6%96%87%E4%BB%B6.bin`,
    );
    const b = await get(`${srv.url}/download/${encodeURIComponent('line\r\nbreak"quote.txt')}`, {}, 'HEAD');
    assert.equal(b.status, 200);
    const cd = b.h.get('content-disposition') ?? '';
    assert.ok(!/[\r\n]/.test(cd));
    assert.match(
      cd,
      /^attachment; filename="line__break_quote.txt"; filename\*=UTF-8''line%0D%0Abreak%22quote.txt$/,
    );
    const u = await get(uploadedUrl, {}, 'HEAD');
    assert.match(u.h.get('content-disposition') ?? '', /^inline; /);
    assert.equal(u.h.get('content-type'), 'application/octet-stream');
    assert.equal(u.h.get('x-content-type-options'), 'nosniff');
    assert.equal(u.h.get('content-security-policy'), 'sandbox');
  });

  it('15: a download running while the file is replaced by rename stays consistent; the next sees a new ETag', async () => {
    const oldData = randomBytesSeeded(32 * 1024 * 1024, 82);
    const newData = randomBytesSeeded(32 * 1024 * 1024, 83);
    const path = join(lib, 'swap.bin');
    await writeFile(path, oldData);
    const first = await get(`${srv.url}/download/swap.bin`, {}, 'HEAD');
    const { hostname, port } = new URL(srv.url);
    const body = await new Promise<Buffer>((resolve, reject) => {
      const req = request({ hostname, port, path: '/download/swap.bin' }, (res) => {
        const parts: Buffer[] = [];
        let swapped = false;
        res.on('data', (b: Buffer) => {
          parts.push(b);
          if (!swapped) {
            swapped = true;
            res.pause();
            writeFile(`${path}.new`, newData)
              .then(() => rename(`${path}.new`, path))
              .then(() => res.resume(), reject);
          }
        });
        res.on('end', () => resolve(Buffer.concat(parts)));
        res.on('error', reject);
      });
      req.on('error', reject);
      req.end();
    });
    assert.equal(md5(body), md5(oldData), 'the running response kept reading the old version');
    const next = await get(`${srv.url}/download/swap.bin`, {}, 'HEAD');
    assert.notEqual(next.h.get('etag'), first.h.get('etag'));
    assert.equal(next.h.get('content-length'), String(newData.length));
  });
});

describe('the library', () => {
  it('dotfiles, folders, symlinks leaving the folder and unknown names → 404; symlinks inside work', async () => {
    for (const name of ['.hidden', 'folder', 'escape.txt', 'nope.bin', '%2e%2e%2fetc%2fpasswd']) {
      assert.equal((await get(`${srv.url}/download/${name}`)).status, 404, name);
    }
    const alias = await get(`${srv.url}/download/alias.bin`);
    assert.equal(alias.status, 200);
    assert.deepEqual(alias.body, data);
  });

  it('/ lists the library for a person with a browser', async () => {
    const r = await get(`${srv.url}/`);
    assert.equal(r.status, 200);
    assert.match(r.h.get('content-type') ?? '', /text\/html/);
    assert.match(r.body.toString(), /href="[^"]+\/download\/data\.bin"/);
    assert.match(r.body.toString(), /my file 文件\.bin/);
  });

  it('GET /api/files lists name, size, url and type', async () => {
    const r = await fetch(`${srv.url}/api/files`);
    const body = (await r.json()) as {
      code: number;
      data: { name: string; size: number; url: string; type: string }[];
    };
    assert.equal(body.code, 0);
    const names = body.data.map((f) => f.name);
    assert.ok(
      names.includes('data.bin') && names.includes('my file 文件.bin') && names.includes('alias.bin'),
    );
    assert.ok(!names.includes('.hidden') && !names.includes('folder') && !names.includes('escape.txt'));
    const d = body.data.find((f) => f.name === 'data.bin')!;
    assert.equal(d.size, data.length);
    assert.equal(d.url, `${srv.url}/download/data.bin`);
    assert.equal(d.type, 'application/octet-stream');
  });

  it('the default library holds the ten sample wallpapers: real JPEGs, 1920×1080, 0.5–5 MB, all different', async () => {
    const own = await startTestServer({ libraryDirs: null });
    try {
      const r = (await (await fetch(`${own.url}/api/files`)).json()) as {
        data: { name: string; size: number }[];
      };
      assert.deepEqual(
        r.data.map((f) => f.name),
        Array.from({ length: 10 }, (_, i) => `Wallpaper${i + 1}.jpg`),
      );
      const hashes = new Set<string>();
      for (const f of r.data) {
        assert.ok(f.size > 500_000 && f.size < 5_000_000, `${f.name} is ${f.size} bytes`);
        const img = await get(`${own.url}/download/${f.name}`);
        assert.equal(img.h.get('content-type'), 'image/jpeg');
        assert.deepEqual([...img.body.subarray(0, 3)], [0xff, 0xd8, 0xff], 'JPEG magic');
        // SOF0 frame header: height and width.
        const sof = img.body.indexOf(Buffer.from([0xff, 0xc0]));
        assert.equal(img.body.readUInt16BE(sof + 5), 1080);
        assert.equal(img.body.readUInt16BE(sof + 7), 1920);
        hashes.add(md5(img.body));
      }
      assert.equal(hashes.size, 10);
    } finally {
      await own.close();
    }
  });
});
