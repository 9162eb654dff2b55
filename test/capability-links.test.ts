/**
 * Links that cannot be derived from an MD5 (issue 16): under instant upload 'proof' and 'off' a
 * published upload is served only at the link the server handed out, `/upload/<md5>-<sha32><ext>`
 * (the first 128 bits of its SHA-256: src/server/routes/upload-link.ts). A stranger who knows the
 * MD5 (and guesses the extension) gets 404 NOT_FOUND, as for a missing file; the uploader's link
 * serves the exact bytes, with ranges and validators as the plain link does under 'open', after a
 * restart, and from every process over one bucket.
 */
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { readFile, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { upload } from '../src/client/node/index.js';
import type { AuthRequest, ServerConfig } from '../src/server/index.js';
import { allow, startServer } from '../src/server/index.js';
import { md5, randomBytesSeeded, sha256 } from './helpers/bytes.js';
import { linkOf } from './helpers/links.js';
import { from, md5OnlyUpload } from './helpers/requester.js';
import { metadata, OCTETS, send, TUS } from './helpers/resumable.js';
import { emptyPrefix, s3Endpoint, s3Storage } from './helpers/s3.js';
import { startTestServer, type TestServer, tempDir } from './helpers/server.js';

const KiB = 1024;
const stranger = from('127.0.0.3');
const other = from('127.0.0.4');

/** Asserts a request answers 404 NOT_FOUND (the API's envelope on GET, no body on HEAD). */
async function notFound(url: string, method: 'GET' | 'HEAD', headers: Record<string, string> = {}) {
  const res = await fetch(url, { method, headers });
  const body = await res.text();
  assert.equal(res.status, 404, `${method} ${url} ${JSON.stringify(headers)}`);
  if (method === 'GET') assert.equal(JSON.parse(body).error, 'NOT_FOUND');
  else assert.equal(body, '');
  assert.equal(res.headers.get('etag'), null);
}

/** Every way a stranger who knows the MD5 (and the ext) might name the file. */
async function strangerGetsNothing(base: string, data: Buffer, ext: string, cap: string) {
  const id = md5(data);
  const sha = sha256(data);
  const flipped = `${cap.slice(0, -1)}${cap.endsWith('0') ? '1' : '0'}`;
  const names = [
    `${id}${ext}`,
    id,
    `${id}.bin`,
    `${id.toUpperCase()}${ext}`,
    // The open policy's twin form: 64 bits of the SHA-256, not a capability.
    `${id}-${sha.slice(0, 16)}${ext}`,
    // A wrong or truncated capability.
    `${id}-${flipped}${ext}`,
    `${id}-${cap.slice(0, 31)}${ext}`,
    `${id}-${cap}0${ext}`,
    `${id}-${'0'.repeat(32)}${ext}`,
  ];
  for (const name of names) {
    for (const method of ['GET', 'HEAD'] as const) {
      await notFound(`${base}/upload/${name}`, method);
      await notFound(`${base}/upload/${name}`, method, { range: 'bytes=0-9' });
    }
  }
}

/** The uploader's link serves the exact bytes, whole, in ranges, on HEAD and with validators. */
async function servesExactly(url: string, data: Buffer, key = md5(data)): Promise<Headers> {
  const whole = await fetch(url);
  assert.equal(whole.status, 200, url);
  assert.deepEqual(Buffer.from(await whole.arrayBuffer()), data);
  assert.equal(whole.headers.get('accept-ranges'), 'bytes');
  const etag = whole.headers.get('etag');
  assert.equal(etag, `"${key}"`, 'the content key, as on the plain link');
  const start = Math.min(100, Math.floor(data.length / 4));
  const end = Math.min(start + 1023, data.length - 2);
  const part = await fetch(url, { headers: { range: `bytes=${start}-${end}` } });
  assert.equal(part.status, 206);
  assert.equal(part.headers.get('content-range'), `bytes ${start}-${end}/${data.length}`);
  assert.deepEqual(Buffer.from(await part.arrayBuffer()), data.subarray(start, end + 1));
  const tail = await fetch(url, { headers: { range: 'bytes=-10' } });
  assert.equal(tail.status, 206);
  assert.deepEqual(Buffer.from(await tail.arrayBuffer()), data.subarray(data.length - 10));
  // HEAD answers the whole file's headers (a Range is for GET), as on every byte route.
  const head = await fetch(url, { method: 'HEAD', headers: { range: 'bytes=0-9' } });
  assert.equal(head.status, 200);
  assert.equal(head.headers.get('content-length'), String(data.length));
  assert.equal(head.headers.get('etag'), etag);
  const cached = await fetch(url, { headers: { 'if-none-match': etag! } });
  assert.equal(cached.status, 304);
  await cached.arrayBuffer();
  const stale = await fetch(url, { headers: { range: 'bytes=0-9', 'if-range': '"other"' } });
  assert.equal(stale.status, 200, 'If-Range with another validator: the whole file');
  await stale.arrayBuffer();
  return whole.headers;
}

/** What the serving of one file says about it, beside the bytes (same on every form of link). */
function served(h: Headers) {
  return {
    type: h.get('content-type'),
    disposition: h.get('content-disposition'),
    etag: h.get('etag'),
    length: h.get('content-length'),
    cache: h.get('cache-control'),
    csp: h.get('content-security-policy'),
    lastModified: h.get('last-modified'),
  };
}

interface Store {
  name: string;
  skip: string | false;
  /** A server over this store (the same store each call: a restart, or another process). */
  start(overrides: Partial<ServerConfig>): Promise<TestServer>;
  dispose(): Promise<void>;
}

function stores(): Store[] {
  const ep = s3Endpoint();
  let dataDir: string | undefined;
  const prefix = `caps-${randomBytes(6).toString('hex')}/`;
  return [
    {
      name: 'local disk',
      skip: false,
      async start(o) {
        dataDir ??= await tempDir();
        return startTestServer({ ...o, dataDir });
      },
      async dispose() {
        if (dataDir) await rm(dataDir, { recursive: true, force: true });
      },
    },
    {
      name: 'S3 (Ceph RGW)',
      skip: typeof ep === 'string' ? ep : false,
      start(o) {
        if (typeof ep === 'string') throw new Error(ep);
        return startTestServer({
          logLevel: 'error',
          ...o,
          storage: { kind: 's3', ...ep, prefix, forcePathStyle: true },
        });
      },
      async dispose() {
        if (typeof ep === 'string') return;
        const cleaner = s3Storage(ep, prefix);
        await emptyPrefix(cleaner);
        await cleaner.close();
      },
    },
  ];
}

for (const store of stores()) {
  describe(`instantUpload 'proof' links (${store.name})`, { skip: store.skip }, () => {
    let srv: TestServer;
    let dir: string;
    // Over the proof's sample size, and not a multiple of the chunk size.
    const data = randomBytesSeeded(300 * KiB + 7, 1701);
    const courseData = randomBytesSeeded(70 * KiB + 3, 1702);
    const cap = sha256(data).slice(0, 32);
    let link = '';
    let proofHeaders: Headers;
    before(async () => {
      srv = await store.start({ instantUpload: 'proof' });
      dir = await tempDir();
      await writeFile(join(dir, 'report.pdf'), data);
    });
    after(async () => {
      await srv.close();
      await rm(dir, { recursive: true, force: true });
      await store.dispose();
    });

    it('our library is answered a capability link that serves the exact bytes, ranges included', async () => {
      const r = await upload(join(dir, 'report.pdf'), {
        server: srv.url,
        hashCache: false,
        chunkSize: 64 * KiB,
      });
      assert.equal(r.instant, false);
      link = r.url;
      assert.equal(link, `${srv.url}/upload/${md5(data)}-${cap}.pdf`);
      assert.equal(link, linkOf(srv.url, 'proof', data, '.pdf'));
      proofHeaders = await servesExactly(link, data);
      assert.match(proofHeaders.get('content-disposition') ?? '', /^attachment; filename="report\.pdf"/);
      // Proving it again (instant) answers the same link.
      const again = await upload(join(dir, 'report.pdf'), {
        server: srv.url,
        hashCache: false,
        chunkSize: 64 * KiB,
      });
      assert.equal(again.instant, true);
      assert.equal(again.url, link);
    });

    it('a stranger knowing the MD5 and the ext gets 404 on GET and HEAD, with or without Range', async () => {
      await strangerGetsNothing(srv.url, data, '.pdf', cap);
      // The capability of another file does not open this one.
      const otherCap = sha256(courseData).slice(0, 32);
      await notFound(`${srv.url}/upload/${md5(data)}-${otherCap}.pdf`, 'GET');
    });

    it("an MD5-only client (the course's) is answered a capability link in the final chunk answer", async () => {
      const last = await md5OnlyUpload(other, srv.url, courseData, '.txt');
      assert.deepEqual(last.body.data, []);
      assert.equal(last.body.url, linkOf(srv.url, 'proof', courseData, '.txt'));
      await servesExactly(last.body.url!, courseData);
      await notFound(`${srv.url}/upload/${md5(courseData)}.txt`, 'GET');
    });

    it('the link survives a restart; the plain link comes back under open, served the same way', async () => {
      await srv.close();
      srv = await store.start({ instantUpload: 'proof' });
      const restarted = link.replace(/^http:\/\/[^/]+/, srv.url);
      await servesExactly(restarted, data);
      await strangerGetsNothing(srv.url, data, '.pdf', cap);
      await srv.close();
      srv = await store.start({ instantUpload: 'open' });
      const plain = await servesExactly(`${srv.url}/upload/${md5(data)}.pdf`, data);
      const capOpen = await servesExactly(link.replace(/^http:\/\/[^/]+/, srv.url), data);
      assert.deepEqual(served(capOpen), served(proofHeaders), 'the capability link, as under proof');
      assert.deepEqual(served(plain), served(proofHeaders), 'the plain link under open, the same');
      await srv.close();
      srv = await store.start({ instantUpload: 'proof' });
    });

    if (store.name.startsWith('S3')) {
      it('another process over the bucket serves a link this one handed out (no shared secret)', async () => {
        const peer = await store.start({ instantUpload: 'proof' });
        try {
          const fresh = randomBytesSeeded(20 * KiB + 1, 1703);
          const last = await md5OnlyUpload(other, srv.url, fresh, '.bin');
          const url = last.body.url!;
          await servesExactly(url.replace(srv.url, peer.url), fresh);
          await notFound(`${peer.url}/upload/${md5(fresh)}.bin`, 'GET');
        } finally {
          await peer.close();
        }
      });
    }
  });
}

describe("instantUpload 'off', tus, --user-content-origin, access control", () => {
  it("'off': the final chunk answer carries the capability link; the plain one is 404", async () => {
    const srv = await startTestServer({ instantUpload: 'off' });
    try {
      const data = randomBytesSeeded(90 * KiB + 5, 1711);
      const last = await md5OnlyUpload(other, srv.url, data, '.png');
      assert.equal(last.body.url, linkOf(srv.url, 'off', data, '.png'));
      await servesExactly(last.body.url!, data);
      await strangerGetsNothing(srv.url, data, '.png', sha256(data).slice(0, 32));
      // A second client naming the MD5 uploads (no link, no challenge), and is answered the link.
      const hs = await stranger.handshake(srv.url, {
        fileId: md5(data),
        ext: '.png',
        chunkIds: [`${md5(data)}0`],
      });
      assert.doesNotMatch(JSON.stringify(hs.body), /\/upload\//);
    } finally {
      await srv.close();
    }
  });

  it('tus under proof: the completion Link is the capability link', async () => {
    const srv = await startTestServer({ instantUpload: 'proof' });
    try {
      const data = randomBytesSeeded(40 * KiB + 9, 1712);
      const created = await send(`${srv.url}/files/`, 'POST', {
        ...TUS,
        'Upload-Length': String(data.length),
        'Upload-Metadata': metadata({ filename: 'clip.txt' }),
      });
      assert.equal(created.status, 201);
      const done = await send(
        created.headers.get('location')!,
        'PATCH',
        { ...OCTETS, 'Upload-Offset': '0' },
        data,
      );
      assert.equal(done.status, 204);
      const expected = linkOf(srv.url, 'proof', data, '.txt');
      assert.equal(done.headers.get('link'), `<${expected}>; rel="item"`);
      await servesExactly(expected, data);
      await notFound(`${srv.url}/upload/${md5(data)}.txt`, 'GET');
    } finally {
      await srv.close();
    }
  });

  it('--user-content-origin: the capability link is on the download host, served the same', async () => {
    const srv = await startTestServer({
      instantUpload: 'proof',
      userContentOrigin: 'https://usercontent.example.net/',
    });
    try {
      const data = Buffer.from('user content, proof policy');
      const last = await md5OnlyUpload(other, srv.url, data, '.txt');
      const name = `${md5(data)}-${sha256(data).slice(0, 32)}.txt`;
      assert.equal(last.body.url, `https://usercontent.example.net/upload/${name}`);
      await servesExactly(`${srv.url}/upload/${name}`, data);
      await notFound(`${srv.url}/upload/${md5(data)}.txt`, 'GET');
    } finally {
      await srv.close();
    }
  });

  it('access control is asked about the MD5 of a capability link (download-upload)', async () => {
    const dir = await tempDir();
    const seen: (string | undefined)[] = [];
    const running = await startServer(
      { port: 0, logLevel: 'silent', dataDir: dir, libraryDirs: [], instantUpload: 'proof' },
      {
        authorize: (r: AuthRequest) => {
          if (r.action === 'download-upload') seen.push(r.fileId);
          return allow('someone');
        },
      },
    );
    try {
      const data = randomBytesSeeded(3 * KiB, 1713);
      const last = await md5OnlyUpload(other, running.url, data, '.bin');
      await servesExactly(last.body.url!, data);
      assert.ok(seen.length > 0 && seen.every((id) => id === md5(data)), JSON.stringify(seen));
    } finally {
      await running.close();
      await rm(dir, { recursive: true, force: true });
    }
  });
});

it('a file published before SHA-256s were recorded: under proof an upload of it gets a copy with its link', async () => {
  const dataDir = await tempDir();
  try {
    const data = randomBytesSeeded(50 * KiB + 1, 1721);
    const id = md5(data);
    let srv = await startTestServer({ dataDir });
    await md5OnlyUpload(other, srv.url, data, '.txt');
    await srv.close();
    // As an older server left it: a sidecar without the SHA-256.
    const sidecar = join(dataDir, 'files', `${id}.json`);
    const meta = JSON.parse(await readFile(sidecar, 'utf8')) as Record<string, unknown>;
    delete meta.sha256;
    await writeFile(sidecar, JSON.stringify(meta));
    srv = await startTestServer({ dataDir, instantUpload: 'proof' });
    try {
      // No capability can be checked against it: not served, and no challenge for it (no link to earn).
      await notFound(`${srv.url}/upload/${id}-${sha256(data).slice(0, 32)}.txt`, 'GET');
      const hs = await stranger.handshake(srv.url, { fileId: id, ext: '.txt', chunkIds: [`${id}0`] });
      assert.equal((hs.body as { challenge?: unknown }).challenge, undefined);
      const last = await md5OnlyUpload(from('127.0.0.5'), srv.url, data, '.txt');
      assert.equal(last.body.url, linkOf(srv.url, 'proof', data, '.txt'));
      // Published under the twin key (storage/publication.ts), which its ETag names.
      await servesExactly(last.body.url!, data, `${id}-${sha256(data).slice(0, 16)}`);
    } finally {
      await srv.close();
    }
  } finally {
    await rm(dataDir, { recursive: true, force: true });
  }
});
