/**
 * Real resuming clients against our server: curl -C -, wget -c and aria2c -x4 -s4 each fetch a
 * wallpaper and a 64 MiB file, are killed part-way, resume, and end with the right MD5; the resumed
 * run must fetch less than the whole file.
 */
import assert from 'node:assert/strict';
import { type ChildProcess, spawn } from 'node:child_process';
import { once } from 'node:events';
import { readdir, rm, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { md5File, writeRandomFile } from './helpers/bytes.js';
import { startProxy } from './helpers/flaky-proxy.js';
import { startTestServer, type TestServer, tempDir } from './helpers/server.js';
import { needTool } from './helpers/tools.js';

let srv: TestServer;
let out: string;
const files: Record<string, { md5: string; size: number }> = {};

/** Bytes the server has sent on /download/ so far (headers and bodies, sendfile included). */
async function sentOnWire(): Promise<number> {
  const text = await (await fetch(`${srv.url}/metrics`)).text();
  let total = 0;
  for (const line of text.split('\n'))
    if (line.startsWith('resumable_http_sent_bytes_total{route="/download/"}'))
      total += Number(line.split(' ').pop());
  return total;
}

before(async () => {
  srv = await startTestServer({ libraryDirs: null });
  out = await tempDir('rt-clients-');
  const big = join(srv.dataDir, 'library', 'big.bin');
  files['big.bin'] = { md5: await writeRandomFile(big, 64 * 1024 * 1024, 91), size: 64 * 1024 * 1024 };
  const wp = join(srv.dataDir, 'library', 'Wallpaper3.jpg');
  files['Wallpaper3.jpg'] = { md5: await md5File(wp), size: (await stat(wp)).size };
});
after(async () => {
  await srv.close();
  await rm(out, { recursive: true, force: true });
});

function run(cmd: string, args: string[]): ChildProcess {
  return spawn(cmd, args, { cwd: out, stdio: 'ignore' });
}

/** The exit code, also when the process ended before we asked; killed after 60 s. */
async function exited(p: ChildProcess): Promise<number | null> {
  if (p.exitCode !== null || p.signalCode !== null) return p.exitCode;
  const timer = setTimeout(() => p.kill('SIGKILL'), 60_000);
  const [code] = (await once(p, 'exit')) as [number | null];
  clearTimeout(timer);
  return code;
}

async function interruptThenResume(
  name: string,
  slow: (url: string, rate: string) => ChildProcess,
  fast: (url: string) => ChildProcess,
  partial: (path: string) => Promise<boolean>,
  waitMs = 1500,
) {
  const { size, md5 } = files[name]!;
  // Throttled by a proxy on the way: a client's own rate limit lets a small file through in its
  // first burst. The same URL (through the proxy, unthrottled) is used to resume.
  const proxy = await startProxy(srv.url, { rate: size > 10 * 1024 * 1024 ? 2 * 1024 * 1024 : 128 * 1024 });
  const url = `${proxy.url}/download/${encodeURIComponent(name)}`;
  const first = slow(url, '100M');
  await sleep(waitMs);
  // A large file: the first run gets 40% before it is killed, whatever the machine's load (after a
  // fixed time a loaded machine had fetched so little that what a resume sends past its ranges,
  // into socket buffers, outweighed it).
  const deadline = Date.now() + 30_000;
  if (size > 16 * 1024 * 1024) while (proxy.down < 0.4 * size && Date.now() < deadline) await sleep(100);
  first.kill('SIGKILL');
  await exited(first);
  const path = join(out, name);
  assert.ok(await partial(path), `${name} was interrupted part-way (${(await readdir(out)).join(', ')})`);
  proxy.options.rate = 0;
  const before = await sentOnWire();
  const second = fast(url);
  assert.equal(await exited(second), 0, 'the resumed run succeeded');
  await proxy.close();
  await sleep(300); // the server records a response's bytes when it closes
  // Counted on the wire by the server (/metrics: sendfile included). A small file fits in the
  // socket buffers, so a response a client drops after its headers (aria2 probes with a plain
  // GET) is sent whole: the count only proves a resume for a file much larger than those buffers.
  const resent = (await sentOnWire()) - before;
  if (size > 16 * 1024 * 1024) assert.ok(resent < size, `the resumed run fetched ${resent} of ${size} bytes`);
  assert.equal((await stat(path)).size, size);
  assert.equal(await md5File(path), md5);
  await rm(path, { force: true });
}

const smaller = async (path: string) => {
  const st = await stat(path).catch(() => undefined);
  return st !== undefined && st.size > 0;
};

for (const name of ['Wallpaper3.jpg', 'big.bin']) {
  describe(name, () => {
    it('curl -C - resumes', { skip: needTool('curl', 'curl') }, () =>
      interruptThenResume(
        name,
        (url, rate) => run('curl', ['-s', '-o', name, '--limit-rate', rate, url]),
        (url) => run('curl', ['-s', '-f', '-C', '-', '-o', name, url]),
        async (p) => (await smaller(p)) && (await stat(p)).size < files[name]!.size,
      ),
    );

    it('wget -c resumes', { skip: needTool('wget', 'wget') }, () =>
      interruptThenResume(
        name,
        (url, rate) => run('wget', ['-q', '-O', name, `--limit-rate=${rate.toLowerCase()}`, url]),
        (url) => run('wget', ['-q', '-c', '-O', name, url]),
        async (p) => (await smaller(p)) && (await stat(p)).size < files[name]!.size,
      ),
    );

    it('aria2c -x4 -s4 resumes from its control file', { skip: needTool('aria2c', 'aria2') }, () =>
      interruptThenResume(
        name,
        (url, rate) =>
          run('aria2c', [
            '-q',
            '-x4',
            '-s4',
            '-k1M',
            `--max-download-limit=${rate}`,
            '--file-allocation=none',
            '--auto-save-interval=1',
            '-o',
            name,
            url,
          ]),
        (url) => run('aria2c', ['-q', '-x4', '-s4', '-k1M', '-c', '--file-allocation=none', '-o', name, url]),
        async (p) =>
          (await smaller(p)) &&
          (await stat(`${p}.aria2`).then(
            () => true,
            () => false,
          )),
        // Long enough for aria2 to have saved its control file (every second with --auto-save-interval=1).
        3000,
      ),
    );
  });
}
