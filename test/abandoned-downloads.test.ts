/**
 * Clients that go away mid-response, many at once, beside clients that finish: the server stays
 * up, every finished download is byte-exact, and no descriptor is leaked or closed twice (a
 * double close once hit a reused descriptor and aborted the process).
 */
import assert from 'node:assert/strict';
import { readdirSync, readlinkSync } from 'node:fs';
import { request } from 'node:http';
import { join } from 'node:path';
import { after, before, it } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { md5, writeRandomFile } from './helpers/bytes.js';
import { startTestServer, type TestServer, tempDir } from './helpers/server.js';

let srv: TestServer;
let sum: string;
before(async () => {
  const lib = await tempDir('rt-abandon-');
  sum = await writeRandomFile(join(lib, 'big.bin'), 32 * 1024 * 1024, 501);
  srv = await startTestServer({ libraryDirs: [lib] });
});
after(() => srv.close());

function abandon(url: string, afterBytes: number, range?: string): Promise<void> {
  return new Promise((resolve) => {
    const req = request(url, { headers: range ? { range } : {} }, (res) => {
      let got = 0;
      res.on('data', (b: Buffer) => {
        got += b.length;
        if (got >= afterBytes) req.destroy();
      });
      res.on('close', () => resolve());
    });
    req.on('error', () => resolve());
    req.end();
  });
}

/** Descriptors of this process open on the served file (sockets of keep-alive clients excluded). */
const fileFds = () =>
  readdirSync('/proc/self/fd').filter((fd) => {
    try {
      return readlinkSync(`/proc/self/fd/${fd}`).endsWith('big.bin');
    } catch {
      return false;
    }
  }).length;

it('hundreds of abandoned responses: no crash, no leaked or doubly closed descriptor', async () => {
  const url = `${srv.url}/download/big.bin`;
  await fetch(url, { method: 'HEAD' });
  for (let round = 0; round < 10; round++) {
    const finishing = Array.from({ length: 2 }, async () =>
      md5(Buffer.from(await (await fetch(url)).arrayBuffer())),
    );
    const abandoned = Array.from({ length: 30 }, (_, i) =>
      abandon(url, 64 * 1024 * (1 + (i % 7)), i % 3 === 0 ? `bytes=${i * 1000}-` : undefined),
    );
    await Promise.all(abandoned);
    for (const got of await Promise.all(finishing)) assert.equal(got, sum);
  }
  await sleep(300);
  assert.equal((await fetch(`${srv.url}/api/health`)).status, 200);
  assert.equal(fileFds(), 0, 'every descriptor on the file was closed');
});
