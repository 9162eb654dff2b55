/**
 * The range server's two ways of sending bytes: kernel sendfile (native/sendfile.c, built at
 * install) and the copy through user space it falls back to (not built, or RESUMABLE_SENDFILE=off).
 * Both must give the same bytes, including when the socket fills up mid-response and when
 * requests are pipelined on one connection.
 */
import assert from 'node:assert/strict';
import { writeFile } from 'node:fs/promises';
import { connect } from 'node:net';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { nativeSendfile } from '../src/io/native-sendfile.js';
import { md5, randomBytesSeeded } from './helpers/bytes.js';
import { killAllServers, spawnServer } from './helpers/child-server.js';
import { startTestServer, type TestServer, tempDir } from './helpers/server.js';

const big = randomBytesSeeded(24 * 1024 * 1024 + 12_345, 90);
const small = randomBytesSeeded(70_000, 91);

/** Raw HTTP on one connection: sends `requests` at once, reads slowly at first, returns the bytes. */
async function rawExchange(base: string, requests: string[], stallMs: number): Promise<Buffer> {
  const { hostname, port } = new URL(base);
  const sock = connect(Number(port), hostname);
  await new Promise<void>((resolve, reject) => sock.once('connect', resolve).once('error', reject));
  sock.write(requests.join(''));
  // Not reading for a while fills the socket: the server must wait and carry on, not lose bytes.
  sock.pause();
  await sleep(stallMs);
  const parts: Buffer[] = [];
  sock.on('data', (b: Buffer) => parts.push(b));
  sock.resume();
  await new Promise<void>((resolve) => sock.once('end', resolve));
  return Buffer.concat(parts);
}

/** Splits pipelined responses that all carry Content-Length; returns [head, body] pairs. */
function splitResponses(raw: Buffer): { head: string; body: Buffer }[] {
  const out: { head: string; body: Buffer }[] = [];
  let at = 0;
  while (at < raw.length) {
    const end = raw.indexOf('\r\n\r\n', at);
    assert.ok(end > 0, 'a complete head');
    const head = raw.subarray(at, end).toString('latin1');
    const length = Number(/content-length: (\d+)/i.exec(head)?.[1]);
    out.push({ head, body: raw.subarray(end + 4, end + 4 + length) });
    at = end + 4 + length;
  }
  return out;
}

function exercise(label: string, server: () => string) {
  describe(label, () => {
    it('whole file and ranges, read by a client that stalls first: the exact bytes', async () => {
      const res = await fetch(`${server()}/download/big.bin`);
      assert.equal(md5(Buffer.from(await res.arrayBuffer())), md5(big));
      const ranged = await fetch(`${server()}/download/big.bin`, {
        headers: { range: 'bytes=1000-5000000' },
      });
      assert.equal(ranged.status, 206);
      assert.ok(Buffer.from(await ranged.arrayBuffer()).equals(big.subarray(1000, 5_000_001)));
      const multi = await fetch(`${server()}/download/small.bin`, { headers: { range: 'bytes=0-9,60000-' } });
      const text = Buffer.from(await multi.arrayBuffer());
      assert.equal(multi.status, 206);
      assert.ok(text.includes(small.subarray(0, 10)) && text.includes(small.subarray(60_000)));
      assert.equal(Number(multi.headers.get('content-length')), text.length);
      const raw = await rawExchange(
        server(),
        [`GET /download/big.bin HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n`],
        300,
      );
      const [whole] = splitResponses(raw);
      assert.equal(md5(whole!.body), md5(big));
    });

    it('pipelined requests on one connection come back whole and in order', async () => {
      const get = (path: string, range: string, last = false) =>
        `GET ${path} HTTP/1.1\r\nHost: x\r\nRange: bytes=${range}\r\n${last ? 'Connection: close\r\n' : ''}\r\n`;
      const raw = await rawExchange(
        server(),
        [
          get('/download/big.bin', '0-3999999'),
          get('/download/small.bin', '5-69'),
          get('/download/big.bin', '20000000-', true),
        ],
        200,
      );
      const [a, b, c] = splitResponses(raw);
      assert.ok(a!.body.equals(big.subarray(0, 4_000_000)));
      assert.ok(b!.body.equals(small.subarray(5, 70)));
      assert.ok(c!.body.equals(big.subarray(20_000_000)));
      assert.match(c!.head, /content-range: bytes 20000000-/i);
    });
  });
}

let lib: string;
let inProcess: TestServer;
let copying: string;

before(async () => {
  lib = await tempDir('rt-sendfile-');
  await writeFile(join(lib, 'big.bin'), big);
  await writeFile(join(lib, 'small.bin'), small);
  inProcess = await startTestServer({ libraryDirs: [lib] });
  process.env.RESUMABLE_SENDFILE = 'off';
  try {
    copying = (await spawnServer(await tempDir('rt-sendfile-data-'), ['--library', lib])).url;
  } finally {
    delete process.env.RESUMABLE_SENDFILE;
  }
});
after(async () => {
  await inProcess.close();
  killAllServers();
});

it('the sendfile addon is built on Linux (it is optional elsewhere)', (t) => {
  if (process.platform !== 'linux') return t.skip('not Linux');
  if (!nativeSendfile && process.env.CI !== 'true')
    return t.skip('not built here: npm run build prints why (a compiler and Node headers are needed)');
  assert.equal(typeof nativeSendfile?.now, 'function');
  assert.equal(typeof nativeSendfile?.pooled, 'function');
});
exercise('with sendfile (where built)', () => inProcess.url);
exercise('copying through user space (RESUMABLE_SENDFILE=off)', () => copying);
