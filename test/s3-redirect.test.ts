/**
 * `--s3-redirect` on a real store (Ceph RGW, or $S3_ENDPOINT): GET and HEAD of /upload/ answer
 * 302 to a presigned URL and the store serves the bytes, ranges and validators included; curl -L
 * and our own client follow it and resume byte-exact; a request we refuse gets no URL; the URL
 * expires; a page's fetch in Chromium follows it once the bucket has the CORS rule the docs give.
 * The store is reached through a TCP proxy given as --s3-public-endpoint, which is the host the
 * URLs must be signed for (and lets a download be slowed down to be cut mid-way).
 */
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdir, readFile, rm, writeFile } from 'node:fs/promises';
import type { IncomingMessage } from 'node:http';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { promisify } from 'node:util';
import { DeleteBucketCommand, PutBucketCorsCommand } from '@aws-sdk/client-s3';
import { redactUserinfo } from '../src/client/core/http.js';
import { download, upload } from '../src/client/node/index.js';
import { formatContentDisposition } from '../src/protocol/content-disposition.js';
import { S3Storage as Backend, type S3Storage } from '../src/storage/s3/s3.js';
import { launchChromium, needChromium } from './helpers/browser.js';
import { md5, md5File, randomBytesSeeded } from './helpers/bytes.js';
import { runCli } from './helpers/cli.js';
import { type FlakyProxy, startProxy } from './helpers/flaky-proxy.js';
import { emptyPrefix, s3Endpoint, s3Storage } from './helpers/s3.js';
import { startTestServer, type TestServer, tempDir } from './helpers/server.js';

const run = promisify(execFile);
const MiB = 1024 * 1024;
const ep = s3Endpoint();
const TOKEN = 'alice-token-0123456789abcdef';
/** Non-ASCII and a space: the store must hand back both forms of our Content-Disposition. */
const NAME = 'redirect é 1.txt';

interface Seen {
  method: string;
  path: string;
  range: string | undefined;
  status: number;
}

function record(srv: TestServer): Seen[] {
  const seen: Seen[] = [];
  srv.running.server.on('request', (req: IncomingMessage, res) => {
    res.on('finish', () =>
      seen.push({
        method: req.method ?? '',
        path: (req.url ?? '').split('?')[0] ?? '',
        range: req.headers.range,
        status: res.statusCode,
      }),
    );
  });
  return seen;
}

/** curl as a user runs it; -D keeps every hop's head, -w what the last hop answered. */
async function curl(args: string[]): Promise<{ status: number; redirects: number; heads: string }> {
  const headFile = join(work, `heads-${Math.random().toString(16).slice(2)}`);
  const { stdout } = await run('curl', [
    '-sS',
    '-D',
    headFile,
    '-w',
    '%{http_code} %{num_redirects}',
    ...args,
  ]);
  const [status, redirects] = stdout.trim().split(' ').map(Number);
  const heads = await readFile(headFile, 'latin1');
  return { status: status ?? 0, redirects: redirects ?? 0, heads };
}

/** The value of a header in the last head curl received (the store's answer). */
function lastHeader(heads: string, name: string): string | undefined {
  const blocks = heads.trim().split(/\r\n\r\n/);
  const last = blocks[blocks.length - 1] ?? '';
  const re = new RegExp(`^${name}:\\s*(.*)$`, 'im');
  return re.exec(last)?.[1]?.trim();
}

let work: string;

describe('--s3-redirect', { skip: typeof ep === 'string' ? ep : false, timeout: 300_000 }, () => {
  let store: S3Storage;
  let proxy: FlakyProxy;
  let open: TestServer;
  let guarded: TestServer;
  let seen: Seen[];
  let bytes: Buffer;
  let link: string;
  let lib: string;

  before(async () => {
    if (typeof ep === 'string') return;
    work = await tempDir('rt-s3redirect-');
    lib = join(work, 'lib');
    await mkdir(lib);
    store = s3Storage(ep);
    proxy = await startProxy(ep.endpoint);
    const storage = {
      kind: 's3' as const,
      ...ep,
      prefix: store.prefix,
      redirect: true,
      publicEndpoint: proxy.url,
    };
    open = await startTestServer({ storage: { ...storage, redirectTtlSeconds: 120 }, libraryDirs: [lib] });
    seen = record(open);
    // Access control on, capability links, and URLs that live two seconds (SigV4 dates are whole
    // seconds: a 1 s URL made at the end of a second may be dead before it is followed).
    guarded = await startTestServer({
      storage: { ...storage, redirectTtlSeconds: 2 },
      auth: 'token',
      authTokens: [`alice:${TOKEN}`],
      instantUpload: 'proof',
    });
    bytes = randomBytesSeeded(6 * MiB + 12_345, 91);
    const path = join(work, NAME);
    await writeFile(path, bytes);
    link = (await upload(path, { server: open.url, hashCache: false })).url;
  });

  after(async () => {
    await open?.close();
    await guarded?.close();
    await proxy?.close();
    if (store) {
      await emptyPrefix(store);
      await store.close();
    }
    if (work) await rm(work, { recursive: true, force: true });
  });

  it('GET is a 302 to a presigned URL on the public endpoint, never cached; the store answers the range with our headers', async () => {
    const res = await fetch(link, { redirect: 'manual', headers: { range: 'bytes=100-199' } });
    assert.equal(res.status, 302);
    assert.equal(res.headers.get('cache-control'), 'no-store');
    assert.equal(await res.text(), '');
    const location = res.headers.get('location') ?? '';
    assert.ok(location.startsWith(`${proxy.url}/`), location);
    assert.match(location, /X-Amz-Signature=/);
    assert.match(location, /X-Amz-Expires=120/);
    // What the link serves is fetched by the store: bytes 1,000,000-2,999,999, exactly.
    const out = join(work, 'range.out');
    const got = await curl(['-L', '-r', '1000000-2999999', '-o', out, link]);
    assert.equal(got.status, 206, got.heads);
    assert.equal(got.redirects, 1);
    assert.equal(md5(await readFile(out)), md5(bytes.subarray(1_000_000, 3_000_000)));
    assert.equal(lastHeader(got.heads, 'content-range'), `bytes 1000000-2999999/${bytes.length}`);
    // The headers our own answer would have had, sent by the store.
    assert.equal(lastHeader(got.heads, 'content-disposition'), formatContentDisposition('inline', NAME));
    assert.equal(lastHeader(got.heads, 'content-type'), 'text/plain; charset=utf-8');
    assert.equal(lastHeader(got.heads, 'cache-control'), 'public, max-age=31536000, immutable, no-transform');
    assert.ok(lastHeader(got.heads, 'etag'), 'the store sends its validator');
  });

  it('curl -L -C - resumes a partial download byte-exact: the Range reaches the store through the redirect', async () => {
    const out = join(work, 'resume.out');
    const had = 2 * MiB + 7;
    await writeFile(out, bytes.subarray(0, had));
    seen.length = 0;
    const got = await curl(['-L', '-C', '-', '-o', out, link]);
    assert.equal(got.status, 206, got.heads);
    assert.equal(await md5File(out), md5(bytes));
    assert.deepEqual(
      seen.map((s) => [s.method, s.range, s.status]),
      [['GET', `bytes=${had}-`, 302]],
    );
  });

  it('HEAD is redirected to a URL signed for HEAD: size, ranges and validators come from the store', async () => {
    const get = await fetch(link, { redirect: 'manual' });
    const head = await fetch(link, { method: 'HEAD', redirect: 'manual' });
    assert.equal(head.status, 302);
    assert.equal(head.headers.get('cache-control'), 'no-store');
    const location = head.headers.get('location') ?? '';
    assert.notEqual(location, get.headers.get('location'), 'a GET URL would be 403 to a HEAD');
    const got = await curl(['-L', '-I', '-o', '/dev/null', link]);
    assert.equal(got.status, 200, got.heads);
    assert.equal(lastHeader(got.heads, 'content-length'), String(bytes.length));
    assert.equal(lastHeader(got.heads, 'accept-ranges'), 'bytes');
    assert.equal(lastHeader(got.heads, 'content-disposition'), formatContentDisposition('inline', NAME));
    assert.ok(lastHeader(got.heads, 'etag'));
    assert.ok(lastHeader(got.heads, 'last-modified'));
  });

  it('our client follows the redirect and resumes with ranges: a cut download is finished by the CLI, only the rest fetched', async () => {
    const dest = join(work, 'cli.out');
    proxy.options.rate = 1 * MiB; // the store, slowed, so the download can be cut half way
    const ctl = new AbortController();
    try {
      await assert.rejects(
        download(link, {
          destination: dest,
          connections: 2,
          checkpointInterval: 100,
          signal: ctl.signal,
          onProgress: (p) => {
            if (p.bytesDone >= 2 * MiB) ctl.abort();
          },
        }),
        { code: 'ABORTED' },
      );
    } finally {
      proxy.options.rate = 0;
    }
    const state = JSON.parse(await readFile(`${dest}.part.json`, 'utf8')) as { url: string; etag: string };
    assert.equal(state.url, link, 'the state names the link, not a URL that expires');
    const head = await curl(['-L', '-I', '-o', '/dev/null', link]);
    assert.equal(state.etag, lastHeader(head.heads, 'etag'), "the validator is the store's");
    seen.length = 0;
    const r = await runCli(work, ['download', '-q', '-o', dest, link]).done;
    assert.equal(r.code, 0, r.stderr);
    assert.equal(await md5File(dest), md5(bytes));
    // Every request reached us only to be redirected; the ranges asked cover the rest, not the file.
    assert.ok(seen.length > 0);
    assert.ok(
      seen.every((s) => s.status === 302),
      JSON.stringify(seen),
    );
    const ranged = seen.filter((s) => s.method === 'GET');
    assert.ok(
      ranged.every((s) => s.range !== undefined),
      'every GET was ranged',
    );
    const fetched = ranged.reduce((n, s) => {
      const m = /bytes=(\d+)-(\d+)/.exec(s.range ?? '');
      return n + (m ? Number(m[2]) - Number(m[1]) + 1 : bytes.length);
    }, 0);
    assert.ok(fetched <= bytes.length - 2 * MiB + MiB, `fetched ${fetched} again`);
  });

  it('a request we refuse gets the same refusal and no URL: no credentials, a plain MD5 link under proof, a wrong capability', async () => {
    const path = join(work, NAME);
    const auth = { authorization: `Bearer ${TOKEN}` };
    const capability = (await upload(path, { server: guarded.url, hashCache: false, headers: auth })).url;
    const name = new URL(capability).pathname.split('/').pop() ?? '';
    assert.match(name, /^[0-9a-f]{32}-[0-9a-f]{32}\.txt$/, 'under proof the link is a capability');
    const base = `${guarded.url}/upload/`;
    const wrong = `${name.slice(0, 40)}${name[40] === '0' ? '1' : '0'}${name.slice(41)}`;
    const cases: [string, string, Record<string, string>, number][] = [
      ['GET', capability, {}, 401],
      ['HEAD', capability, {}, 401],
      ['GET', `${base}${md5(bytes)}.txt`, auth, 404],
      ['GET', `${base}${wrong}`, auth, 404],
      ['HEAD', `${base}${wrong}`, auth, 404],
    ];
    for (const [method, url, headers, status] of cases) {
      const res = await fetch(url, {
        method,
        headers: { ...headers, range: 'bytes=0-9' },
        redirect: 'manual',
      });
      assert.equal(res.status, status, `${method} ${url}`);
      assert.equal(res.headers.get('location'), null, `${method} ${url}: no URL`);
      await res.body?.cancel();
    }
    const allowed = await fetch(capability, { headers: auth, redirect: 'manual' });
    assert.equal(allowed.status, 302);
    assert.ok(allowed.headers.get('location'));
  });

  it("the URL expires (ttl 2 s: the store refuses it); a new request gets a new one; our client outlives the URLs' lifetime", async () => {
    const auth = { authorization: `Bearer ${TOKEN}` };
    const path = join(work, NAME);
    const capability = (await upload(path, { server: guarded.url, hashCache: false, headers: auth })).url;
    const first =
      (await fetch(capability, { headers: auth, redirect: 'manual' })).headers.get('location') ?? '';
    assert.ok(first);
    await sleep(3500);
    const expired = await fetch(first);
    assert.equal(expired.status, 403, 'the store refuses an expired URL');
    await expired.body?.cancel();
    const again = await fetch(capability, { headers: { ...auth, range: 'bytes=0-9' } });
    assert.equal(again.status, 206);
    assert.deepEqual(Buffer.from(await again.arrayBuffer()), bytes.subarray(0, 10));
    // A download slower than the URLs live (about 6 s at 2 × 512 KiB/s, URLs of 2 s): each range
    // follows the link again, so none is asked with an expired URL.
    const dest = join(work, 'slow.out');
    proxy.options.rate = 512 * 1024;
    try {
      await download(capability, { destination: dest, connections: 2, headers: auth });
    } finally {
      proxy.options.rate = 0;
    }
    assert.equal(await md5File(dest), md5(bytes));
  });

  it('/download/ (the local library) is still served by us, not redirected', async () => {
    const lib1 = randomBytesSeeded(300_000, 92);
    await writeFile(join(lib, 'local.bin'), lib1);
    const res = await fetch(`${open.url}/download/local.bin`, {
      redirect: 'manual',
      headers: { range: 'bytes=10-19' },
    });
    assert.equal(res.status, 206);
    assert.equal(res.headers.get('location'), null);
    assert.deepEqual(Buffer.from(await res.arrayBuffer()), lib1.subarray(10, 20));
  });
});

it('a library caller gets the 7-day bound of a URL lifetime at construction, not at the first download', async () => {
  const options = { bucket: 'b', endpoint: 'http://127.0.0.1:9', redirect: true };
  assert.throws(
    () => new Backend({ ...options, redirectTtlSeconds: 8 * 24 * 3600 }),
    /redirectTtlSeconds must be a whole number of seconds from 1 to 604800/,
  );
  assert.throws(() => new Backend({ ...options, redirectTtlSeconds: 0 }), /redirectTtlSeconds/);
  // Without the redirect the setting is unused and not checked.
  await new Backend({ ...options, redirect: false, redirectTtlSeconds: 0 }).close();
});

it("a presigned URL's signature is not shown in our client's messages, like a password", () => {
  const url =
    'https://u:pw@s3.example/b/files/k?X-Amz-Credential=AK%2F20261202&X-Amz-Security-Token=tok&X-Amz-Signature=0a1b2c&x-id=GetObject';
  assert.equal(
    redactUserinfo(`The server answered 403 Forbidden for ${url}`),
    'The server answered 403 Forbidden for https://u:***@s3.example/b/files/k?X-Amz-Credential=AK%2F20261202&X-Amz-Security-Token=***&X-Amz-Signature=***&x-id=GetObject',
  );
});

describe('--s3-redirect in a browser', {
  skip: typeof ep === 'string' ? ep : needChromium(),
  timeout: 120_000,
}, () => {
  it("a page's fetch follows the redirect to the store only with the bucket's CORS rule of docs/deploy-s3.md", async () => {
    if (typeof ep === 'string') return;
    // A bucket of its own: its CORS rule must not touch the other tests' bucket.
    const Bucket = `rt-cors-${randomBytes(4).toString('hex')}`;
    const store = new Backend({ ...ep, bucket: Bucket, prefix: 'p/' });
    await store.init();
    const dir = await tempDir('rt-s3redirect-cors-');
    const srv = await startTestServer({
      storage: { kind: 's3', ...ep, bucket: Bucket, prefix: 'p/', redirect: true },
    });
    const browser = await launchChromium();
    try {
      const bytes = randomBytesSeeded(100_000, 93);
      const path = join(dir, NAME);
      await writeFile(path, bytes);
      const link = (await upload(path, { server: srv.url, hashCache: false })).url;
      const page = await browser.newPage();
      // A page of our origin; the store is another (its own port).
      await page.goto(`${srv.url}/api/health`);
      const fetchInPage = () =>
        page.evaluate(async (url) => {
          try {
            const head = await fetch(url, { method: 'HEAD' });
            const etag = head.headers.get('etag') ?? '';
            const got = await fetch(url, { headers: { range: 'bytes=5-14', 'if-match': etag } });
            return {
              head: head.status,
              redirected: head.redirected,
              disposition: head.headers.get('content-disposition'),
              status: got.status,
              range: got.headers.get('content-range'),
              body: Array.from(new Uint8Array(await got.arrayBuffer())),
            };
          } catch (err: unknown) {
            return { error: String(err) };
          }
        }, link);
      assert.match(
        JSON.stringify(await fetchInPage()),
        /Failed to fetch/,
        'no CORS rule: the browser refuses',
      );
      await store.client.send(
        new PutBucketCorsCommand({
          Bucket,
          CORSConfiguration: {
            CORSRules: [
              {
                AllowedOrigins: ['*'],
                AllowedMethods: ['GET', 'HEAD'],
                AllowedHeaders: ['Range', 'If-Match', 'If-Range'],
                ExposeHeaders: [
                  'ETag',
                  'Content-Range',
                  'Content-Length',
                  'Content-Disposition',
                  'Accept-Ranges',
                  'Last-Modified',
                ],
              },
            ],
          },
        }),
      );
      assert.deepEqual(await fetchInPage(), {
        head: 200,
        redirected: true,
        disposition: formatContentDisposition('inline', NAME),
        status: 206,
        range: `bytes 5-14/${bytes.length}`,
        body: Array.from(bytes.subarray(5, 15)),
      });
    } finally {
      await browser.close();
      await srv.close();
      await emptyPrefix(store);
      await store.client.send(new DeleteBucketCommand({ Bucket })).catch(() => undefined);
      await store.close();
      await rm(dir, { recursive: true, force: true });
    }
  });
});
