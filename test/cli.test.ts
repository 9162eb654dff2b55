/** The `resumable` command as a user runs it: a real child process, real files, real servers. */
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { mkdir, readFile, rm, writeFile } from 'node:fs/promises';
import { type AddressInfo, createServer } from 'node:net';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { md5File, sha256, writeRandomFile } from './helpers/bytes.js';
import { type CliRun, runCli } from './helpers/cli.js';
import { startProxy } from './helpers/flaky-proxy.js';
import { freePort } from './helpers/ports.js';
import { startTestServer, type TestServer, tempDir } from './helpers/server.js';
import { needTool } from './helpers/tools.js';

let srv: TestServer;
let work: string;
let lib: string;
let served206 = 0;

before(async () => {
  work = await tempDir('rt-cli-');
  lib = join(work, 'lib');
  await mkdir(lib);
  srv = await startTestServer({ libraryDirs: [lib] });
  srv.running.server.on('request', (_req, res) => {
    res.on('finish', () => {
      if (res.statusCode === 206) served206 += Number(res.getHeader('content-length') ?? 0);
    });
  });
});
after(async () => {
  await srv.close();
  await rm(work, { recursive: true, force: true });
});

/** The CLI in the test's work folder (helpers/cli.ts). */
function cli(args: string[], env: Record<string, string> = {}): CliRun {
  return runCli(work, args, env);
}

async function controlBytes(path: string): Promise<number> {
  try {
    const s = JSON.parse(await readFile(path, 'utf8')) as { segments: { start: number; next: number }[] };
    return s.segments.reduce((sum, g) => sum + g.next - g.start, 0);
  } catch {
    return 0;
  }
}

describe('resumable download', () => {
  it('killed with SIGKILL mid-download, run again: right MD5, finished segments not fetched again', async () => {
    const size = 48 * 1024 * 1024;
    const sum = await writeRandomFile(join(lib, 'big.bin'), size, 201);
    // Slow enough that the first progress checkpoint (every 5 s) comes well before the end.
    const proxy = await startProxy(srv.url, { rate: 1024 * 1024 });
    const dest = join(work, 'big.out');
    const first = cli(['download', '-q', '-c', '4', '-o', dest, `${proxy.url}/download/big.bin`]);
    let saved = 0;
    for (let i = 0; i < 300 && saved < size / 5; i++) {
      await sleep(100);
      saved = await controlBytes(`${dest}.part.json`);
    }
    first.proc.kill('SIGKILL');
    await first.done;
    saved = await controlBytes(`${dest}.part.json`);
    assert.ok(saved >= size / 5 && saved < size, `progress on disk after kill -9: ${saved}`);
    proxy.options.rate = 0;
    served206 = 0;
    const second = cli(['download', '-q', '-c', '4', '-o', dest, `${proxy.url}/download/big.bin`]);
    const r = await second.done;
    await proxy.close();
    assert.equal(r.code, 0, r.stderr);
    assert.equal(r.stdout.trim(), dest);
    assert.equal(await md5File(dest), sum);
    assert.ok(
      served206 <= size - saved,
      `second run fetched ${served206} bytes, ${size - saved} were missing`,
    );
    await assert.rejects(readFile(`${dest}.part.json`), 'the control file is removed');
  });

  it('downloads from nginx (sendfile), 4 connections', {
    skip: needTool('nginx', 'nginx-light'),
  }, async () => {
    const root = join(work, 'www');
    await mkdir(root, { recursive: true });
    const sum = await writeRandomFile(join(root, 'n.bin'), 20 * 1024 * 1024, 202);
    const port = await freePort();
    const conf = join(work, 'nginx.conf');
    await writeFile(
      conf,
      `${process.getuid?.() === 0 ? 'user root;' : ''} daemon off; pid ${work}/nginx.pid; error_log ${work}/nginx.err; worker_processes 1;
events {} http { access_log off; sendfile on; client_body_temp_path ${work}/nb; proxy_temp_path ${work}/np;
fastcgi_temp_path ${work}/nf; uwsgi_temp_path ${work}/nu; scgi_temp_path ${work}/ns;
server { listen 127.0.0.1:${port}; root ${root}; } }`,
    );
    const nginx = spawn('nginx', ['-c', conf, '-p', work], { stdio: 'ignore' });
    try {
      await sleep(500);
      const r = await cli(['download', '-q', '-c', '4', '-o', work, `http://127.0.0.1:${port}/n.bin`]).done;
      assert.equal(
        r.code,
        0,
        `${r.stderr}\n${await readFile(join(work, 'nginx.err'), 'utf8').catch(() => '')}`,
      );
      assert.equal(await md5File(join(work, 'n.bin')), sum);
    } finally {
      // SIGTERM: the master stops its worker too (a SIGKILL of the master left the worker running).
      const exited = once(nginx, 'exit');
      nginx.kill('SIGTERM');
      await exited;
    }
  });

  it('-o makes the folder it names: several URLs into a new folder, one URL into new/sub/', async () => {
    const a = await writeRandomFile(join(lib, 'a.bin'), 300_000, 31);
    const b = await writeRandomFile(join(lib, 'b.bin'), 200_000, 32);
    const urls = [`${srv.url}/download/a.bin`, `${srv.url}/download/b.bin`];
    const many = await cli(['download', '-q', '-o', 'fresh', ...urls]).done;
    assert.equal(many.code, 0, many.stderr);
    assert.equal(await md5File(join(work, 'fresh', 'a.bin')), a);
    assert.equal(await md5File(join(work, 'fresh', 'b.bin')), b);
    const one = await cli(['download', '-q', '-o', 'new/sub/', urls[0]!]).done;
    assert.equal(one.code, 0, one.stderr);
    assert.equal(one.stdout.trim(), join('new', 'sub', 'a.bin'));
    assert.equal(await md5File(join(work, 'new', 'sub', 'a.bin')), a);
    // Several URLs and -o naming a file: a usage error, nothing written.
    await writeFile(join(work, 'plain.txt'), 'x');
    const bad = await cli(['download', '-q', '-o', 'plain.txt', ...urls]).done;
    assert.equal(bad.code, 2);
    assert.match(bad.stderr, /-o must be a folder; plain.txt is a file/);
    assert.equal(await readFile(join(work, 'plain.txt'), 'utf8'), 'x');
  });

  it('errors are one clear line and exit 1; usage errors exit 2', async () => {
    const r = await cli(['download', '--retries', '1', `${srv.url}/download/missing.bin`]).done;
    assert.equal(r.code, 1);
    const lines = r.stderr
      .trim()
      .split('\n')
      .filter((l) => l.startsWith('resumable:'));
    assert.equal(lines.length, 1);
    assert.match(lines[0]!, /HTTP 404/);
    assert.ok(!r.stderr.includes('    at '), 'no stack trace');
    const u = await cli(['download', '--bogus']).done;
    assert.equal(u.code, 2);
  });
});

describe('resumable upload', () => {
  it('prints the URL; Ctrl-C exits 130; the same command resumes; then instant upload is marked', async () => {
    const path = join(work, 'up.bin');
    const size = 24 * 1024 * 1024;
    const sum = await writeRandomFile(path, size, 203);
    const proxy = await startProxy(srv.url, { rate: 0 });
    // Slow the uploads down (the proxy throttles answers; 1 MiB chunks, one at a time).
    proxy.options.rate = 1024 * 1024;
    const first = cli(['upload', '-s', proxy.url, '--chunk-size', '1MiB', '--concurrency', '1', path]);
    try {
      // Interrupt once the server holds part of the file (not after a fixed time: a busy machine
      // may still be hashing then). Our client declares the file's SHA-256, which keys its
      // upload (PROTOCOL.md §Identifiers): its state is asked with it.
      const sha = sha256(await readFile(path));
      for (let i = 0; i < 600; i++) {
        const state = await fetch(`${srv.url}/api/upload/${sum}?sha256=${sha}&limit=0`);
        const held = state.ok ? ((await state.json()) as { data: { bytesHeld: number } }).data.bytesHeld : 0;
        if (held > 0) break;
        await sleep(100);
      }
      first.proc.kill('SIGINT');
      const r1 = await first.done;
      assert.equal(r1.code, 130, r1.stderr);
      assert.match(r1.stderr, /interrupted: run the same command again to resume/);
    } finally {
      first.proc.kill('SIGKILL');
      await proxy.close();
    }
    const r2 = await cli(['upload', '-s', srv.url, '--chunk-size', '1MiB', '--json', path]).done;
    assert.equal(r2.code, 0, r2.stderr);
    const j = JSON.parse(r2.stdout) as {
      url: string;
      bytesSent: number;
      hashCached: boolean;
      instant: boolean;
    };
    assert.equal(j.url, `${srv.url}/upload/${sum}.bin`);
    assert.equal(j.hashCached, true, 'not hashed again');
    assert.ok(j.bytesSent < size, `resumed: sent ${j.bytesSent} of ${size}`);
    const r3 = await cli(['upload', '-s', srv.url, '--chunk-size', '1MiB', path]).done;
    assert.equal(r3.code, 0);
    assert.match(r3.stdout, new RegExp(`${sum}\\.bin  \\(instant upload`));
  });
});

describe('option values are checked, not guessed', () => {
  async function usageError(args: string[], env: Record<string, string> = {}): Promise<string> {
    const r = await cli(args, env).done;
    assert.equal(r.code, 2, r.stderr);
    assert.equal(r.stdout, '', 'nothing started');
    return r.stderr;
  }

  it('serve --max-chunk-size 64XB: a usage error naming the option, with a good size', async () => {
    const stderr = await usageError(['serve', '--port', '0', '--max-chunk-size', '64XB']);
    assert.match(stderr, /'--max-chunk-size <size>' argument '64XB' is invalid/);
    assert.match(stderr, /such as 65536, 8MiB or 1GB/);
  });

  it('RESUMABLE_MAX_CHUNK_SIZE=64XB: the same, naming the environment variable', async () => {
    const stderr = await usageError(['serve', '--port', '0'], { RESUMABLE_MAX_CHUNK_SIZE: '64XB' });
    assert.match(stderr, /value '64XB' from env 'RESUMABLE_MAX_CHUNK_SIZE' is invalid/);
  });

  it('upload --chunk-size 4XB: a usage error naming the option, with a good size', async () => {
    const stderr = await usageError(['upload', '-s', srv.url, '--chunk-size', '4XB', 'whatever.bin']);
    assert.match(stderr, /'--chunk-size <size>' argument '4XB' is invalid/);
    assert.match(stderr, /such as 65536, 8MiB or 1GB/);
  });

  it('upload --server ftp://x: a usage error; a server without a scheme is http, as curl reads it', async () => {
    const stderr = await usageError(['upload', '-s', 'ftp://x', 'whatever.bin']);
    assert.match(stderr, /'-s, --server <url>' argument 'ftp:\/\/x' is invalid/);
    const path = join(work, 'no-scheme.bin');
    await writeRandomFile(path, 70_000, 95);
    const r = await cli(['upload', '-s', srv.url.replace('http://', ''), path]).done;
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout, new RegExp(`^${srv.url}/upload/[0-9a-f]{32}\\.bin\\n$`));
  });

  it('serve on a port in use: one line saying so and what to do, exit 1', async () => {
    const taken = createServer();
    await new Promise<void>((r) => taken.listen(0, '127.0.0.1', r));
    try {
      const { port } = taken.address() as AddressInfo;
      const r = await cli(['serve', '--port', String(port), '--data', join(work, 'port-taken')]).done;
      assert.equal(r.code, 1, r.stderr);
      assert.match(
        r.stderr,
        new RegExp(
          `^resumable: port ${port} is in use on 127\\.0\\.0\\.1 .*choose another port with --port$`,
          'm',
        ),
      );
    } finally {
      taken.close();
    }
  });

  it('serve --public-url notaurl: a usage error naming the option, with a good URL', async () => {
    const stderr = await usageError(['serve', '--port', '0', '--public-url', 'notaurl']);
    assert.match(stderr, /'--public-url <url>' argument 'notaurl' is invalid/);
    assert.match(stderr, /an absolute http\(s\) URL such as https:\/\/files\.example\.com/);
  });

  it('serve --instant-upload maybe: a usage error listing the policies', async () => {
    const stderr = await usageError(['serve', '--port', '0', '--instant-upload', 'maybe']);
    assert.match(stderr, /'--instant-upload <policy>' argument 'maybe' is invalid/);
    assert.match(stderr, /open, proof, off/);
  });

  it('serve --storage s3 without a bucket: a usage error naming --s3-bucket', async () => {
    const stderr = await usageError(['serve', '--port', '0', '--storage', 's3']);
    assert.match(stderr, /'--s3-bucket <name>' \(or RESUMABLE_S3_BUCKET\): required with s3 storage/);
  });
});
