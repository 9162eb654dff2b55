/**
 * Links never carry an unknown Host; uploads are served with the type and name their upload
 * recorded, active types as attachments; the page has its CSP (issue 16).
 */
import assert from 'node:assert/strict';
import { mkdir, rm, writeFile } from 'node:fs/promises';
import { request } from 'node:http';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { handshake, sendChunk } from './helpers/api.js';
import { cut, randomBytesSeeded } from './helpers/bytes.js';
import { startTestServer, type TestServer, tempDir } from './helpers/server.js';

/** A request with any Host header (fetch will not send one of our choosing). */
function withHost(
  url: string,
  host: string,
  init: { method?: string; body?: string; headers?: Record<string, string> } = {},
): Promise<{ status: number; text: string; headers: Record<string, string | string[] | undefined> }> {
  return new Promise((resolve, reject) => {
    const req = request(url, { method: init.method ?? 'GET', headers: { ...init.headers, host } }, (res) => {
      let text = '';
      res.setEncoding('utf8');
      res.on('data', (d: string) => {
        text += d;
      });
      res.on('end', () => resolve({ status: res.statusCode ?? 0, text, headers: res.headers }));
    });
    req.on('error', reject);
    req.end(init.body);
  });
}

async function uploadNamed(base: string, data: Buffer, ext: string, name: string) {
  const c = cut(data);
  const a = await handshake(base, { fileId: c.fileId, ext, chunkIds: c.chunkIds, name });
  assert.equal(a.status, 200, JSON.stringify(a.body));
  const r = await sendChunk(base, { fileId: c.fileId, chunkId: c.chunkIds[0]!, file: c.chunks[0]! });
  assert.ok(r.body.url, JSON.stringify(r.body));
  return { fileId: c.fileId, url: r.body.url, chunkIds: c.chunkIds };
}

describe('links', () => {
  let srv: TestServer;
  let port: number;
  before(async () => {
    srv = await startTestServer({ libraryDirs: null });
    port = srv.running.port;
  });
  after(() => srv.close());

  it('an unknown Host never appears in a link: handshake, chunk answer, state, /api/files', async () => {
    const data = Buffer.from('links never carry an unknown host');
    const c = cut(data);
    const body = JSON.stringify({ fileId: c.fileId, ext: '.txt', chunkIds: c.chunkIds });
    const json = { 'content-type': 'application/json' };
    const evil = 'evil.example';
    await withHost(`${srv.url}/api/upload/handshake`, evil, { method: 'POST', body, headers: json });
    await sendChunk(srv.url, { fileId: c.fileId, chunkId: c.chunkIds[0]!, file: c.chunks[0]! });
    const answers = [
      await withHost(`${srv.url}/api/upload/handshake`, evil, { method: 'POST', body, headers: json }),
      await withHost(`${srv.url}/api/upload/handshake`, `${evil}:${port}`, {
        method: 'POST',
        body,
        headers: json,
      }),
      await withHost(`${srv.url}/api/upload/${c.fileId}`, evil),
      await withHost(`${srv.url}/api/files`, evil),
      await withHost(`${srv.url}/api/files`, `localhost.${evil}:${port}`),
    ];
    for (const a of answers) {
      assert.equal(a.status, 200, a.text);
      assert.ok(!a.text.includes('evil'), a.text.slice(0, 300));
      assert.ok(a.text.includes(`http://127.0.0.1:${port}/`), a.text.slice(0, 300));
    }
  });

  it('a loopback Host is kept, on any port (a local proxy in front keeps its own)', async () => {
    const kept = await withHost(`${srv.url}/api/files`, `localhost:${port}`);
    assert.ok(kept.text.includes(`http://localhost:${port}/download/`));
    const proxied = await withHost(`${srv.url}/api/files`, `127.0.0.1:${port + 1}`);
    assert.ok(proxied.text.includes(`http://127.0.0.1:${port + 1}/download/`));
  });

  it('--allowed-hosts names the Host values links may use', async () => {
    const named = await startTestServer({ allowedHosts: ['files.example.com', 'cdn.example.com:8443'] });
    try {
      const ok1 = await withHost(`${named.url}/api/upload/${'0'.repeat(32)}`, 'files.example.com');
      const ok2 = await withHost(`${named.url}/api/files`, 'cdn.example.com:8443');
      const no = await withHost(`${named.url}/api/files`, 'cdn.example.com:9999');
      assert.equal(ok1.status, 404);
      assert.equal(ok2.status, 200);
      const c = cut(Buffer.from('allowed hosts'));
      const body = JSON.stringify({ fileId: c.fileId, ext: '.txt', chunkIds: c.chunkIds });
      await handshake(named.url, JSON.parse(body));
      await sendChunk(named.url, { fileId: c.fileId, chunkId: c.chunkIds[0]!, file: c.chunks[0]! });
      const instant = await withHost(`${named.url}/api/upload/handshake`, 'files.example.com', {
        method: 'POST',
        body,
        headers: { 'content-type': 'application/json' },
      });
      assert.equal(JSON.parse(instant.text).data, `http://files.example.com/upload/${c.fileId}.txt`);
      assert.ok(!no.text.includes('9999'));
    } finally {
      await named.close();
    }
  });

  it('--user-content-origin: /upload/ links point to the download host', async () => {
    const split = await startTestServer({ userContentOrigin: 'https://usercontent.example.net/' });
    try {
      const { fileId, url } = await uploadNamed(split.url, Buffer.from('user content'), '.txt', 'a.txt');
      assert.equal(url, `https://usercontent.example.net/upload/${fileId}.txt`);
      // The server still serves it.
      assert.equal((await fetch(`${split.url}/upload/${fileId}.txt`)).status, 200);
    } finally {
      await split.close();
    }
  });
});

describe('serving uploads', () => {
  let srv: TestServer;
  before(async () => {
    srv = await startTestServer({});
  });
  after(() => srv.close());

  it('active types are attachments, whatever extension the link asks for', async () => {
    const html = await uploadNamed(srv.url, Buffer.from('<script>alert(1)</script>'), '.html', 'page.html');
    for (const ext of ['.html', '.png', '.txt', '']) {
      const res = await fetch(`${srv.url}/upload/${html.fileId}${ext}`);
      assert.equal(res.status, 200);
      assert.equal(res.headers.get('content-type'), 'text/html; charset=utf-8');
      assert.match(res.headers.get('content-disposition') ?? '', /^attachment; filename="page\.html"/);
      assert.equal(res.headers.get('content-security-policy'), 'sandbox');
      assert.equal(res.headers.get('x-content-type-options'), 'nosniff');
    }
    for (const [ext, type] of [
      ['.svg', 'image/svg+xml'],
      ['.js', 'text/javascript; charset=utf-8'],
      ['.pdf', 'application/pdf'],
      ['.exe', 'application/x-msdos-program'],
      ['.xml', 'application/xml'],
    ] as const) {
      const f = await uploadNamed(srv.url, Buffer.from(`distinct content for ${ext}`), ext, `x${ext}`);
      const res = await fetch(`${srv.url}/upload/${f.fileId}.png`, { method: 'HEAD' });
      assert.equal(res.headers.get('content-type'), type, ext);
      assert.match(res.headers.get('content-disposition') ?? '', /^attachment; /, ext);
    }
  });

  it("passive types stay inline, with the recorded type; a stranger's .html link does not change it", async () => {
    const png = await uploadNamed(srv.url, randomBytesSeeded(2000, 71), '.png', 'photo.png');
    const res = await fetch(`${srv.url}/upload/${png.fileId}.html`);
    assert.equal(res.headers.get('content-type'), 'image/png');
    assert.match(res.headers.get('content-disposition') ?? '', /^inline; filename="photo\.png"/);
    const txt = await uploadNamed(srv.url, Buffer.from('plain words'), '.txt', 'notes.txt');
    const t = await fetch(`${srv.url}/upload/${txt.fileId}.txt`, { method: 'HEAD' });
    assert.match(t.headers.get('content-disposition') ?? '', /^inline; /);
  });

  it('a right-to-left override cannot disguise the served name', async () => {
    const f = await uploadNamed(srv.url, randomBytesSeeded(300, 72), '.exe', 'invoice\u202Egpj.exe');
    const res = await fetch(`${srv.url}/upload/${f.fileId}.jpg`, { method: 'HEAD' });
    const cd = res.headers.get('content-disposition') ?? '';
    assert.match(cd, /^attachment; filename="invoicegpj\.exe"/);
    assert.ok(!cd.includes('%E2%80%AE'));
  });
});

describe('the web page', () => {
  let srv: TestServer;
  let web: string;
  before(async () => {
    web = await tempDir();
    await mkdir(web, { recursive: true });
    await writeFile(join(web, 'index.html'), '<!doctype html><title>t</title>');
    srv = await startTestServer({ webDir: web });
  });
  after(async () => {
    await srv.close();
    await rm(web, { recursive: true, force: true });
  });

  it('has a CSP without inline script, framed by nobody', async () => {
    const res = await fetch(`${srv.url}/`);
    assert.equal(res.status, 200);
    const csp = res.headers.get('content-security-policy') ?? '';
    assert.match(csp, /script-src 'self' 'wasm-unsafe-eval'(;|$)/);
    assert.ok(!csp.includes("'unsafe-inline'"));
    for (const d of ["object-src 'none'", "base-uri 'none'", "frame-ancestors 'none'"])
      assert.ok(csp.includes(d), d);
    assert.equal(res.headers.get('x-frame-options'), 'DENY');
  });

  it('--frame-ancestors is configurable', async () => {
    const framed = await startTestServer({ webDir: web, frameAncestors: 'https://app.example.com' });
    try {
      const res = await fetch(`${framed.url}/`);
      assert.match(
        res.headers.get('content-security-policy') ?? '',
        /frame-ancestors https:\/\/app\.example\.com/,
      );
      assert.equal(res.headers.get('x-frame-options'), null);
    } finally {
      await framed.close();
    }
  });

  it('the plain index (no page built) has a CSP too', async () => {
    const plain = await startTestServer({});
    try {
      const res = await fetch(`${plain.url}/`);
      assert.match(res.headers.get('content-security-policy') ?? '', /default-src 'none'/);
      assert.equal(res.headers.get('x-frame-options'), 'DENY');
    } finally {
      await plain.close();
    }
  });
});
