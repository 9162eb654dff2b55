/**
 * Counts the requests our S3 backend sends the store for one CLI upload, by kind (issue #18: the
 * small requests around each chunk's UploadPart). An HTTP proxy in front of $S3_ENDPOINT names
 * each request it relays (the S3 operation and which object of the layout, storage/s3/s3.ts),
 * between a built server (`npm run build` first) and the store; then where the time went (the
 * first request, the UploadParts); SPANS=1 lists every request (start ms, duration ms, kind).
 *
 *   eval "$(scripts/ceph.sh env)"
 *   node --import tsx bench/s3-requests.ts [--size 64MiB] [--chunk-size 8MiB] [--workers N]
 */
import { execFile } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { once } from 'node:events';
import { mkdir, rm, writeFile } from 'node:fs/promises';
import { Agent, createServer, type IncomingMessage, request } from 'node:http';
import { join } from 'node:path';
import { parseArgs, promisify } from 'node:util';
import { parseSize } from '../src/config/values.js';
import {
  abortMultipartUploads,
  emptyPrefix,
  s3Endpoint,
  s3ServeArgs,
  s3Storage,
} from '../test/helpers/s3.js';
import { ROOT, startOurs } from './servers.js';

const { values: args } = parseArgs({
  options: {
    size: { type: 'string', default: '64MiB' },
    'chunk-size': { type: 'string' },
    workers: { type: 'string' },
  },
});

/** The S3 operation a request is, from its method, query and headers. */
function operation(req: IncomingMessage, query: URLSearchParams): string {
  const m = req.method;
  if (query.has('uploadId')) {
    if (m === 'PUT') return req.headers['x-amz-copy-source'] ? 'UploadPartCopy' : 'UploadPart';
    if (m === 'POST') return 'CompleteMultipartUpload';
    if (m === 'GET') return 'ListParts';
    if (m === 'DELETE') return 'AbortMultipartUpload';
  }
  if (query.has('uploads')) return m === 'POST' ? 'CreateMultipartUpload' : 'ListMultipartUploads';
  if (query.has('list-type')) return 'ListObjectsV2';
  if (m === 'PUT') {
    if (req.headers['x-amz-copy-source']) return 'CopyObject';
    if (req.headers['if-match']) return 'PUT If-Match';
    if (req.headers['if-none-match']) return 'PUT If-None-Match';
    return 'PUT';
  }
  return m ?? '?';
}

/** Which object of the layout a key (or a listing's prefix) is, ids left out. */
function objectOf(key: string, prefix: string): string {
  const k = key.startsWith(prefix) ? key.slice(prefix.length) : key;
  return k
    .replace(/^uploads\/[^/]+\//, 'uploads/<key>/')
    .replace(/sessions\/[0-9a-f]{32}\.json$/, 'sessions/<s>.json')
    .replace(/chunks\/[0-9a-f]{32}$/, 'chunks/<md5>')
    .replace(/^files\/.+$/, 'files/<key>')
    .replace(/^tmp\/.+$/, 'tmp/<id>');
}

/**
 * Where the upload's time went, in ms from its start: the first request to the store (before it,
 * the client hashed the file and the handshake ran), the UploadParts, the last request, and how
 * long at least one UploadPart was under way.
 */
function timeline(spans: { what: string; began: number; ended: number }[], start: number): string[] {
  if (spans.length === 0) return [];
  const parts = spans.filter((x) => x.what.startsWith('UploadPart ')).sort((a, b) => a.began - b.began);
  let busy = 0;
  let until = 0;
  for (const p of parts) {
    busy += Math.max(0, p.ended - Math.max(p.began, until));
    until = Math.max(until, p.ended);
  }
  const at = (t: number) => `${t - start} ms`;
  const first = Math.min(...spans.map((x) => x.began));
  const last = Math.max(...spans.map((x) => x.ended));
  const lines = [`first request to the store at ${at(first)}; last answered at ${at(last)}`];
  if (parts.length > 0) {
    lines.push(
      `UploadParts from ${at(parts[0]!.began)} to ${at(Math.max(...parts.map((p) => p.ended)))}; ` +
        `at least one under way for ${busy} ms, ` +
        `${(parts.reduce((t, p) => t + p.ended - p.began, 0) / busy).toFixed(1)} on average then`,
    );
  }
  if (process.env.SPANS) {
    for (const x of spans.sort((a, b) => a.began - b.began))
      lines.push(`${x.began - start}\t${x.ended - x.began}\t${x.what}`);
  }
  return lines;
}

async function main() {
  const ep = s3Endpoint();
  if (typeof ep === 'string') throw new Error(ep);
  const size = parseSize(args.size);
  const upstream = new URL(ep.endpoint);
  const prefix = `count-${randomBytes(6).toString('hex')}/`;
  /** When each request was sent and answered (ms since the epoch). */
  const spans: { what: string; began: number; ended: number }[] = [];
  /** Requests by kind, and those of them not answered 2xx by status. */
  const counts = new Map<string, { n: number; refused: Map<number, number> }>();
  const agent = new Agent({ keepAlive: true });
  const proxy = createServer((req, res) => {
    const url = new URL(req.url ?? '/', 'http://x');
    const path = decodeURIComponent(url.pathname).replace(`/${ep.bucket}/`, '');
    const what = `${operation(req, url.searchParams)} ${objectOf(url.searchParams.get('prefix') ?? path, prefix)}`;
    const tally = counts.get(what) ?? { n: 0, refused: new Map<number, number>() };
    counts.set(what, tally);
    tally.n++;
    const began = Date.now();
    // Not signed (SigV4 leaves it out): Node answers the 100 itself and streams the body anyway.
    const { expect: _, ...headers } = req.headers;
    const up = request(
      { host: upstream.hostname, port: upstream.port, method: req.method, path: req.url, headers, agent },
      (answer) => {
        const status = answer.statusCode ?? 502;
        if (status >= 300) tally.refused.set(status, (tally.refused.get(status) ?? 0) + 1);
        res.writeHead(status, answer.headers);
        answer.pipe(res);
        answer.once('end', () => spans.push({ what, began, ended: Date.now() }));
      },
    );
    up.on('error', (err) => {
      process.stderr.write(`${what}: ${err}\n`);
      res.destroy();
    });
    req.pipe(up);
  });
  proxy.listen(0, '127.0.0.1');
  await once(proxy, 'listening');
  const { port } = proxy.address() as { port: number };

  const work = join(ROOT, 'bench', 'work', 's3-requests');
  await rm(work, { recursive: true, force: true });
  await mkdir(work, { recursive: true });
  const file = join(work, 'file.bin');
  await writeFile(file, randomBytes(size));
  const counted = { ...ep, endpoint: `http://127.0.0.1:${port}` };
  const workers = args.workers ? ['--workers', args.workers] : [];
  await mkdir(join(work, 'lib'));
  const server = await startOurs(join(work, 'data'), join(work, 'lib'), [
    ...s3ServeArgs(counted, prefix),
    ...workers,
  ]);
  const store = s3Storage(ep, prefix);
  let ms = 0;
  let start = 0;
  try {
    counts.clear(); // what the start asked (the bucket, the sweeper's first look) is no chunk's
    spans.length = 0;
    const chunk = args['chunk-size'] ? ['--chunk-size', args['chunk-size']] : [];
    const env = { ...process.env, RESUMABLE_CACHE_DIR: join(work, 'cache') };
    const cli = join(ROOT, 'dist/cli/resumable.cjs');
    // Not execFileSync: the proxy runs in this process.
    start = Date.now();
    await promisify(execFile)(process.execPath, [cli, 'upload', '-q', '-s', server.url, ...chunk, file], {
      env,
    });
    ms = Date.now() - start;
  } finally {
    await server.stop();
    proxy.close();
    await abortMultipartUploads(store);
    await emptyPrefix(store);
    await store.close();
    await rm(work, { recursive: true, force: true });
  }
  const chunkSize = args['chunk-size'] ? parseSize(args['chunk-size']) : 8 * 1024 * 1024;
  const n = Math.ceil(size / chunkSize);
  const rows = [...counts].sort((a, b) => b[1].n - a[1].n);
  const total = rows.reduce((t, [, c]) => t + c.n, 0);
  const out = [
    `${size} bytes in ${n} chunks of ${chunkSize}, uploaded in ${ms} ms: ${total} requests`,
    '| request | total | per chunk | not 2xx |',
    '|---|---|---|---|',
    ...rows.map(([what, c]) => {
      const refused = [...c.refused].map(([status, k]) => `${k}× ${status}`).join(', ');
      return `| ${what} | ${c.n} | ${(c.n / n).toFixed(2)} | ${refused} |`;
    }),
    `| all | ${total} | ${(total / n).toFixed(2)} | |`,
    '',
    ...timeline(spans, start),
  ];
  process.stdout.write(`${out.join('\n')}\n`);
}

await main();
