/**
 * `resumable download` as a new user meets it (issue 20, items 5, 6, 8, 9, 11): redirects, a
 * finished download run again, a file in the way, a server that is down or stalls, what the
 * progress says, several URLs at once. Real servers on port 0, real HTTP, real files; what the
 * client fetched is counted on the server side.
 */
import assert from 'node:assert/strict';
import { readFile, rm, stat, writeFile } from 'node:fs/promises';
import { createServer, type IncomingMessage, type Server } from 'node:http';
import type { Socket } from 'node:net';
import { join } from 'node:path';
import { after, before, beforeEach, describe, it } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { download } from '../src/client/node/index.js';
import { handshake, sendChunk } from './helpers/api.js';
import { md5, md5File, randomBytesSeeded, writeRandomFile } from './helpers/bytes.js';
import { runCli } from './helpers/cli.js';
import { startProxy } from './helpers/flaky-proxy.js';
import { freePort } from './helpers/ports.js';
import { startTestServer, type TestServer, tempDir } from './helpers/server.js';

interface Seen {
  method: string;
  path: string;
  range: string | undefined;
  authorization: string | undefined;
}

let srv: TestServer;
let work: string;
let lib: string;
/** Every request our server answered (method, path, Range). */
let seen: Seen[] = [];

before(async () => {
  work = await tempDir('rt-cli-dl-');
  lib = join(work, 'lib');
  srv = await startTestServer({ libraryDirs: [lib] });
  srv.running.server.on('request', (req: IncomingMessage) => {
    const path = (req.url ?? '').split('?')[0] ?? '';
    seen.push({
      method: req.method ?? '',
      path,
      range: req.headers.range,
      authorization: req.headers.authorization,
    });
  });
});
after(async () => {
  await srv.close();
  await rm(work, { recursive: true, force: true });
});
beforeEach(() => {
  seen = [];
});

const cli = (args: string[], env?: Record<string, string>) => runCli(work, args, env);

async function listen(server: Server): Promise<string> {
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  return `http://127.0.0.1:${(server.address() as { port: number }).port}`;
}

/** Closes a test server, its kept-alive and hanging connections too. */
function closeAll(server: Server, sockets: Set<Socket>): Promise<void> {
  for (const s of sockets) s.destroy();
  return new Promise((r) => server.close(() => r()));
}

function track(server: Server): Set<Socket> {
  const sockets = new Set<Socket>();
  server.on('connection', (s: Socket) => {
    sockets.add(s);
    s.on('close', () => sockets.delete(s));
  });
  return sockets;
}

describe('redirects (item 5)', () => {
  let hops: Server;
  let hopsUrl: string;
  let sockets: Set<Socket>;
  const hits = new Map<string, number>();
  const hopAuth: (string | undefined)[] = [];
  let target = '';

  before(async () => {
    hops = createServer((req, res) => {
      const path = req.url ?? '';
      hits.set(path, (hits.get(path) ?? 0) + 1);
      const to = (status: number, location: string) => {
        res.writeHead(status, { location, 'content-length': 0 });
        res.end();
      };
      if (path === '/abs') to(302, `${srv.url}/download/r.bin`);
      else if (path === '/rel')
        to(301, 'x/../hop'); // relative: resolves to /hop here
      else if (path === '/hop') {
        hopAuth.push(req.headers.authorization);
        to(307, `${srv.url}/download/r.bin`);
      } else if (path === '/loop') to(302, '/loop');
      else if (path === '/ftp') to(302, 'ftp://files.example/r.bin');
      else if (path === '/slow') to(303, target);
      else to(404, '');
    });
    sockets = track(hops);
    hopsUrl = await listen(hops);
  });
  after(() => closeAll(hops, sockets));

  it('absolute and relative Locations are followed (301, 302, 307); credentials stay on their origin', async () => {
    const sum = await writeRandomFile(join(lib, 'r.bin'), 1_500_000, 51);
    const a = await cli(['download', '-q', '-o', 'abs.bin', `${hopsUrl}/abs`]).done;
    assert.equal(a.code, 0, a.stderr);
    assert.equal(a.stdout.trim(), 'abs.bin');
    assert.equal(await md5File(join(work, 'abs.bin')), sum);
    const r = await cli(['download', '-q', '--token', 'sekrit', '-o', 'rel.bin', `${hopsUrl}/rel`]).done;
    assert.equal(r.code, 0, r.stderr);
    assert.equal(await md5File(join(work, 'rel.bin')), sum);
    // /rel → /hop is the same origin: the token went along; our server is another origin: never.
    assert.ok(hopAuth.includes('Bearer sekrit'), 'same-origin hop got the token');
    const fileRequests = seen.filter((s) => s.path === '/download/r.bin');
    assert.ok(fileRequests.length > 0);
    assert.ok(
      fileRequests.every((s) => s.authorization === undefined),
      'the token is not sent to another origin',
    );
  });

  it('a loop stops at the limit with a clear error naming it, not retried; no password shown', async () => {
    hits.clear();
    const url = new URL(`${hopsUrl}/loop`);
    url.username = 'user';
    url.password = 'hunter2secret';
    const r = await cli(['download', '--max-redirects', '3', '-o', 'loop.bin', url.href]).done;
    assert.equal(r.code, 1, r.stderr);
    assert.match(r.stderr, /Gave up after 3 redirects \(the limit: maxRedirects, --max-redirects\)/);
    assert.ok(!r.stderr.includes('hunter2secret'), r.stderr);
    assert.match(r.stderr, /user:\*\*\*@/);
    assert.doesNotMatch(r.stderr, /retrying/);
    assert.equal(hits.get('/loop'), 4, 'the first request and 3 redirects, no retry');
    const d = await cli(['download', '-q', '-o', 'loop.bin', `${hopsUrl}/loop`]).done;
    assert.match(d.stderr, /Gave up after 10 redirects/, 'the default limit is 10');
    const ftp = await cli(['download', '-q', '-o', 'ftp.bin', `${hopsUrl}/ftp`]).done;
    assert.equal(ftp.code, 1);
    assert.match(ftp.stderr, /redirects to an unsupported protocol \(ftp:\)/);
    const bad = await cli(['download', '--max-redirects', 'many', `${hopsUrl}/abs`]).done;
    assert.equal(bad.code, 2);
    assert.match(bad.stderr, /'--max-redirects <n>' argument 'many' is invalid/);
  });

  it('resume through a redirect keeps the final URL validators: only the missing bytes are fetched again', async () => {
    const size = 8 * 1024 * 1024;
    const sum = await writeRandomFile(join(lib, 'big-r.bin'), size, 52);
    const proxy = await startProxy(srv.url, { rate: 2 * 1024 * 1024 });
    target = `${proxy.url}/download/big-r.bin`;
    const dest = join(work, 'big-r.out');
    const ctl = new AbortController();
    try {
      await assert.rejects(
        download(`${hopsUrl}/slow`, {
          destination: dest,
          connections: 2,
          checkpointInterval: 100,
          signal: ctl.signal,
          onProgress: (p) => {
            if (p.bytesDone >= 3 * 1024 * 1024) ctl.abort();
          },
        }),
        { code: 'ABORTED' },
      );
      const state = JSON.parse(await readFile(`${dest}.part.json`, 'utf8')) as { url: string; etag: string };
      const head = await fetch(`${srv.url}/download/big-r.bin`, { method: 'HEAD' });
      assert.equal(state.url, `${hopsUrl}/slow`, 'the state names the URL asked for');
      assert.equal(state.etag, head.headers.get('etag'), "and keeps the final URL's ETag");
      proxy.options.rate = 0;
      seen = [];
      const r = await cli(['download', '-q', '-o', dest, `${hopsUrl}/slow`]).done;
      assert.equal(r.code, 0, r.stderr);
      assert.equal(await md5File(dest), sum);
      const ranges = seen.filter((s) => s.method === 'GET').map((s) => s.range ?? '');
      const fetched = ranges.reduce((n, range) => {
        const m = /bytes=(\d+)-(\d+)/.exec(range);
        return n + (m ? Number(m[2]) - Number(m[1]) + 1 : size);
      }, 0);
      assert.ok(fetched <= size - 3 * 1024 * 1024 + 1024 * 1024, `fetched ${fetched} again`);
    } finally {
      await proxy.close();
    }
  });
});

describe('a download run again, a file in the way (item 6)', () => {
  it('a finished download run again is "already complete": no byte fetched, exit 0', async () => {
    const sum = await writeRandomFile(join(lib, 'again.bin'), 700_000, 61);
    const url = `${srv.url}/download/again.bin`;
    const first = await cli(['download', url]).done;
    assert.equal(first.code, 0, first.stderr);
    assert.equal(await md5File(join(work, 'again.bin')), sum);
    seen = [];
    const second = await cli(['download', url]).done;
    assert.equal(second.code, 0, second.stderr);
    assert.equal(second.stdout.trim(), 'again.bin');
    assert.match(second.stderr, /already complete: nothing fetched/);
    assert.deepEqual(
      seen.filter((s) => s.path === '/download/again.bin').map((s) => s.method),
      ['HEAD'],
      'one HEAD, no GET',
    );
    const quiet = await cli(['download', '-q', '--json', url]).done;
    assert.equal(quiet.code, 0);
    assert.equal((JSON.parse(quiet.stdout) as { alreadyComplete: boolean }).alreadyComplete, true);
    assert.match(quiet.stderr, /already complete/);
  });

  it('an unrelated file of that name is never overwritten: name.1.ext beside it, --force overwrites', async () => {
    const sum = await writeRandomFile(join(lib, 'mine.txt'), 300_000, 62);
    const url = `${srv.url}/download/mine.txt`;
    await writeFile(join(work, 'mine.txt'), 'my own notes, not the download');
    const r = await cli(['download', url]).done;
    assert.equal(r.code, 0, r.stderr);
    assert.equal(r.stdout.trim(), 'mine.1.txt');
    assert.match(
      r.stderr,
      /mine\.txt exists and is not this download: saved as mine\.1\.txt \(--force overwrites\)/,
    );
    assert.equal(await readFile(join(work, 'mine.txt'), 'utf8'), 'my own notes, not the download');
    assert.equal(await md5File(join(work, 'mine.1.txt')), sum);
    // Run again: found beside it, complete.
    seen = [];
    const again = await cli(['download', url]).done;
    assert.equal(again.stdout.trim(), 'mine.1.txt');
    assert.match(again.stderr, /already complete/);
    assert.ok(!seen.some((s) => s.method === 'GET'), 'nothing fetched');
    await assert.rejects(stat(join(work, 'mine.2.txt')));
    // An explicit -o file in the way: the same rule.
    await writeFile(join(work, 'named.out'), 'keep me');
    const named = await cli(['download', '-o', 'named.out', url]).done;
    assert.equal(named.stdout.trim(), 'named.1.out');
    assert.equal(await readFile(join(work, 'named.out'), 'utf8'), 'keep me');
    const forced = await cli(['download', '--force', url]).done;
    assert.equal(forced.code, 0, forced.stderr);
    assert.equal(forced.stdout.trim(), 'mine.txt');
    assert.equal(await md5File(join(work, 'mine.txt')), sum);
  });
});

/** A file server whose answers the test scripts: some requests hang, some stall mid-body. */
function scriptedServer(body: Buffer, behave: (req: IncomingMessage, n: number) => 'hang' | 'stall' | 'ok') {
  const requests: { method: string; range: string | undefined; how: string }[] = [];
  const server = createServer((req, res) => {
    const how = behave(req, requests.length);
    requests.push({ method: req.method ?? '', range: req.headers.range, how });
    if (how === 'hang') return; // accepted, never answered
    const headers = {
      etag: '"v1"',
      'accept-ranges': 'bytes',
      'last-modified': 'Wed, 01 Jan 2025 00:00:00 GMT',
      'content-type': 'application/octet-stream',
    };
    if (req.method === 'HEAD') {
      res.writeHead(200, { ...headers, 'content-length': body.length });
      res.end();
      return;
    }
    const m = /bytes=(\d+)-(\d+)/.exec(req.headers.range ?? '');
    const start = Number(m?.[1] ?? 0);
    const end = Number(m?.[2] ?? body.length - 1);
    res.writeHead(206, {
      ...headers,
      'content-range': `bytes ${start}-${end}/${body.length}`,
      'content-length': end - start + 1,
    });
    if (how === 'stall')
      res.write(body.subarray(start, start + 300_000)); // then nothing, ever
    else res.end(body.subarray(start, end + 1));
  });
  const sockets = track(server);
  return { server, requests, sockets };
}

describe('a server that is down or stalls (item 8)', () => {
  it('accepts and never answers, then stalls mid-body: noticed within the limits, resumed where it stopped', async () => {
    const body = randomBytesSeeded(3 * 1024 * 1024, 81);
    let gets = 0;
    const s = scriptedServer(body, (req, n) => {
      if (n === 0) return 'hang';
      if (req.method === 'GET' && gets++ === 0) return 'stall';
      return 'ok';
    });
    const url = await listen(s.server);
    try {
      const r = await cli([
        'download',
        '-c',
        '1',
        '--timeout',
        '1s',
        '--stall-timeout',
        '1500ms',
        '-o',
        'stall.bin',
        `${url}/stall.bin`,
      ]).done;
      assert.equal(r.code, 0, r.stderr);
      assert.equal(md5(await readFile(join(work, 'stall.bin'))), md5(body));
      assert.match(
        r.stderr,
        /retrying in [\d.]+ s \(attempt 1\/8\): No answer from http:\/\/127\.0\.0\.1:\d+ within 1 s/,
      );
      assert.match(r.stderr, /retrying in [\d.]+ s \(attempt 1\/8\): No data for 1\.5 s at byte 0/);
      const after = s.requests.filter((q) => q.method === 'GET')[1];
      assert.equal(after?.range, 'bytes=300000-1048575', 'the retry asks only for the rest');
      assert.ok(r.ms < 20_000, `took ${r.ms} ms`);
    } finally {
      await closeAll(s.server, s.sockets);
    }
  });

  it('a closed port: the retry lines, then one clear error on its own line, quickly', async () => {
    const port = await freePort();
    const r = await cli(['download', '--retries', '2', `http://127.0.0.1:${port}/x.bin`]).done;
    assert.equal(r.code, 1);
    const lines = r.stderr.trim().split('\n');
    assert.match(
      lines[0] ?? '',
      /^x\.bin: retrying in [\d.]+ s \(attempt 1\/2\): Cannot reach http:\/\/127\.0\.0\.1:\d+/,
    );
    assert.match(lines[1] ?? '', /^x\.bin: retrying in [\d.]+ s \(attempt 2\/2\): .*ECONNREFUSED/);
    assert.match(
      lines[2] ?? '',
      /^resumable: http:\/\/127\.0\.0\.1:\d+\/x\.bin: .*\(after 3 attempts\) \(RETRIES_EXHAUSTED\)$/,
    );
    assert.ok(r.ms < 15_000, `took ${r.ms} ms`);
  });

  it('a 404 and an unsupported protocol are not retried', async () => {
    const r = await cli(['download', `${srv.url}/download/nope.bin`]).done;
    assert.equal(r.code, 1);
    assert.doesNotMatch(r.stderr, /retrying/);
    assert.match(r.stderr, /HTTP 404/);
    assert.equal(seen.filter((s) => s.path === '/download/nope.bin').length, 1, 'one request');
    const ftp = await cli(['download', 'ftp://files.example/x.bin']).done;
    assert.equal(ftp.code, 1);
    assert.doesNotMatch(ftp.stderr, /retrying/);
    assert.match(ftp.stderr, /Unsupported protocol ftp:/);
  });

  it('upload: a server that accepts and never answers fails after --stall-timeout, retried', async () => {
    const s = scriptedServer(Buffer.alloc(0), () => 'hang');
    const url = await listen(s.server);
    await writeFile(join(work, 'up-stall.bin'), randomBytesSeeded(10_000, 82));
    try {
      const r = await cli([
        'upload',
        '-q',
        '-s',
        url,
        '--retries',
        '1',
        '--stall-timeout',
        '1s',
        'up-stall.bin',
      ]).done;
      assert.equal(r.code, 1);
      assert.match(r.stderr, /no data for 1 s/);
      assert.equal(s.requests.length, 2, 'tried twice');
      assert.ok(r.ms < 15_000, `took ${r.ms} ms`);
    } finally {
      await closeAll(s.server, s.sockets);
    }
  });

  it('bad values are usage errors (exit 2)', async () => {
    for (const args of [
      ['--timeout', 'soon'],
      ['--stall-timeout', '0'],
      ['-j', '0'],
    ]) {
      const r = await cli(['download', ...args, `${srv.url}/download/x`]).done;
      assert.equal(r.code, 2, `${args.join(' ')}: ${r.stderr}`);
      assert.match(r.stderr, /is invalid/);
    }
  });
});

describe('progress (item 9) and several at once (item 11)', () => {
  it('a file the server names (Content-Disposition) is saved under that name, and the done line says so', async () => {
    const bytes = randomBytesSeeded(200_000, 92);
    const id = md5(bytes);
    await handshake(srv.url, { fileId: id, ext: '.bin', chunkIds: [`${id}0`], name: 'holiday photo.bin' });
    const sent = await sendChunk(srv.url, { fileId: id, chunkId: `${id}0`, file: bytes });
    assert.ok(sent.body.url, JSON.stringify(sent.body));
    const r = await cli(['download', '-o', 'named/', sent.body.url]).done;
    assert.equal(r.code, 0, r.stderr);
    assert.equal(r.stdout.trim(), join('named', 'holiday photo.bin'));
    assert.deepEqual(await readFile(join(work, 'named', 'holiday photo.bin')), bytes);
    const last = r.stderr.trim().split('\n').pop() ?? '';
    assert.match(last, new RegExp(`^${id}\\.bin done, 195\\.3 KB \\(.*\\) as holiday photo\\.bin$`));
  });

  it('lines when stderr is not a TTY: human sizes, never "hashing", the last line has the average speed', async () => {
    await writeRandomFile(join(lib, 'p.bin'), 3 * 1024 * 1024, 91);
    const proxy = await startProxy(srv.url, { rate: 2 * 1024 * 1024 });
    try {
      const r = await cli(['download', '-c', '1', '-o', 'p.bin', `${proxy.url}/download/p.bin`]).done;
      assert.equal(r.code, 0, r.stderr);
      assert.doesNotMatch(r.stderr, /hashing/);
      assert.match(r.stderr, /^p\.bin download \d+% [\d.]+ (B|KB|MB)\/3 MB [\d.]+ (B|KB|MB)\/s eta /m);
      assert.doesNotMatch(r.stderr, /\/3145728/);
      const last = r.stderr.trim().split('\n').pop() ?? '';
      assert.match(last, /^p\.bin done, 3 MB \([\d.]+ s, average [\d.]+ (KB|MB)\/s\)$/);
    } finally {
      await proxy.close();
    }
  });

  it('--json: result objects on stdout, progress as JSON lines on stderr', async () => {
    await writeRandomFile(join(lib, 'j.bin'), 2 * 1024 * 1024, 92);
    const r = await cli(['download', '--json', '-o', 'j.bin', `${srv.url}/download/j.bin`]).done;
    assert.equal(r.code, 0, r.stderr);
    assert.deepEqual(JSON.parse(r.stdout), {
      url: `${srv.url}/download/j.bin`,
      path: 'j.bin',
      alreadyComplete: false,
    });
    const events = r.stderr
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l) as { event: string; phase?: string; averageSpeed?: number; bytes?: number });
    assert.ok(events.some((e) => e.event === 'progress' && e.phase === 'downloading'));
    const done = events.find((e) => e.event === 'done');
    assert.equal(done?.bytes, 2 * 1024 * 1024);
    assert.ok((done?.averageSpeed ?? 0) > 0, 'the average speed, not 0');
  });

  it('3 URLs with -j 2: all complete, never more than 2 files at once', async () => {
    // A server that sends each file slowly (64 KiB every 50 ms) and counts the files it is
    // sending at once, from the request until the last byte is written.
    const files = [1, 2, 3].map((n) => randomBytesSeeded(768 * 1024, 110 + n));
    const sending = new Set<string>();
    let most = 0;
    const slow = createServer((req, res) => {
      const body = files[Number(/\/j(\d)\.bin$/.exec(req.url ?? '')?.[1] ?? 0) - 1];
      if (!body) {
        res.writeHead(404, { 'content-length': 0 });
        res.end();
        return;
      }
      // No ranges: one GET per file, so a file's request spans its whole transfer.
      const headers = { 'content-length': body.length };
      if (req.method === 'HEAD') {
        res.writeHead(200, headers);
        res.end();
        return;
      }
      const path = req.url ?? '';
      sending.add(path);
      most = Math.max(most, sending.size);
      res.writeHead(200, headers);
      let at = 0;
      const next = () => {
        if (at >= body.length) {
          sending.delete(path);
          res.end();
          return;
        }
        res.write(body.subarray(at, at + 64 * 1024));
        at += 64 * 1024;
        setTimeout(next, 50);
      };
      res.on('close', () => sending.delete(path));
      next();
    });
    const sockets = track(slow);
    const url = await listen(slow);
    try {
      const urls = [1, 2, 3].map((n) => `${url}/j${n}.bin`);
      const r = await cli(['download', '-j', '2', '-o', 'jobs/', ...urls]).done;
      assert.equal(r.code, 0, r.stderr);
      for (const [i, body] of files.entries())
        assert.equal(md5(await readFile(join(work, 'jobs', `j${i + 1}.bin`))), md5(body));
      assert.equal(most, 2, 'two at once, never three');
      assert.equal(r.stdout.trim().split('\n').length, 3);
      assert.match(r.stderr, /^total: 3\/3 files done, 2\.3 MB in [\d.]+ s$/m);
    } finally {
      await closeAll(slow, sockets);
    }
  });

  it('upload -j 2 of 3 files: every URL printed', async () => {
    const files = [1, 2, 3].map((n) => `u${n}.bin`);
    for (const [i, f] of files.entries()) await writeFile(join(work, f), randomBytesSeeded(200_000, 120 + i));
    const r = await cli(['upload', '-q', '-j', '2', '-s', srv.url, ...files]).done;
    assert.equal(r.code, 0, r.stderr);
    assert.equal(r.stdout.trim().split('\n').length, 3);
    for (const line of r.stdout.trim().split('\n')) assert.match(line, /\/upload\/[0-9a-f]{32}\.bin$/);
  });
});

describe('the bar on a terminal (item 9)', () => {
  it('sizes as 24 MB/200 MB (not raw bytes), starts as "starting", ends with the average speed', async () => {
    const { createReporter } = await import('../src/cli/progress.js');
    const { PassThrough } = await import('node:stream');
    const out = Object.assign(new PassThrough(), { isTTY: true, columns: 160, rows: 40 });
    let text = '';
    out.on('data', (b: Buffer) => {
      text += b.toString();
    });
    const reporter = createReporter('bars', 1, out as unknown as NodeJS.WriteStream);
    const t = reporter.start('big.bin', 'http://h/big.bin');
    await sleep(150);
    // Without the terminal's escape sequences (ESC [ … letter).
    const plain = () => text.replace(new RegExp(`${String.fromCharCode(27)}\\[[0-9;?]*[A-Za-z]`, 'g'), '');
    assert.match(plain(), /big\.bin\s+starting/);
    const M = 1024 * 1024;
    t.progress({ phase: 'downloading', bytesDone: 24 * M, bytesTotal: 200 * M, speed: 5 * M, eta: 35 });
    await sleep(150);
    assert.match(plain(), /download .* 24 MB\/200 MB 5 MB\/s/);
    assert.doesNotMatch(plain(), /209715200/);
    t.progress({ phase: 'done', bytesDone: 200 * M, bytesTotal: 200 * M, speed: 8 * M, eta: 0 });
    t.end({ ok: true });
    reporter.stop();
    assert.match(plain(), /big\.bin done, 200 MB \([\d.]+ s, average 8 MB\/s\)/);
    assert.doesNotMatch(plain(), /hashing/);
  });
});
