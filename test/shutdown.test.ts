/** SIGTERM: no new connections, the request in flight finishes, exit 0, nothing half-written. */
import assert from 'node:assert/strict';
import { once } from 'node:events';
import { rm } from 'node:fs/promises';
import { join } from 'node:path';
import { it } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { handshake } from './helpers/api.js';
import { cut, md5, randomBytesSeeded } from './helpers/bytes.js';
import { killAllServers, spawnServer } from './helpers/child-server.js';
import { openSocket, parseResponse } from './helpers/raw-http.js';
import { tempDir } from './helpers/server.js';

it('SIGTERM lets the chunk in flight finish, refuses new connections and exits 0', async () => {
  const data = await tempDir('rt-stop-');
  try {
    const lib = join(data, 'lib');
    await import('node:fs/promises').then((fs) => fs.mkdir(lib));
    const server = await spawnServer(data, ['--library', lib]);
    const c = cut(randomBytesSeeded(256 * 1024, 401), 256 * 1024);
    await handshake(server.url, { fileId: c.fileId, ext: '.bin', chunkIds: c.chunkIds });
    const s = await openSocket(server.url);
    const received: Buffer[] = [];
    s.on('data', (b: Buffer) => received.push(b));
    const body = c.chunks[0]!;
    s.write(
      `POST /api/upload?fileId=${c.fileId}&chunkId=${c.chunkIds[0]} HTTP/1.1\r\nHost: x\r\nContent-Type: application/octet-stream\r\nContent-Length: ${body.length}\r\n\r\n`,
    );
    s.write(body.subarray(0, 100_000));
    await sleep(200);
    const exited = once(server.proc, 'exit');
    server.proc.kill('SIGTERM');
    await sleep(300);
    await assert.rejects(fetch(`${server.url}/api/health`), 'no new connections while stopping');
    s.write(body.subarray(100_000));
    const [code] = (await exited) as [number];
    assert.equal(code, 0);
    const answer = parseResponse(Buffer.concat(received).toString('latin1'));
    assert.equal(answer.status, 200);
    assert.match(answer.body, new RegExp(`/upload/${c.fileId}\\.bin`));
    s.destroy();
    const again = await spawnServer(data, ['--library', lib]);
    const res = await fetch(`${again.url}/upload/${c.fileId}.bin`);
    assert.equal(md5(Buffer.from(await res.arrayBuffer())), c.fileId);
  } finally {
    killAllServers();
    await rm(data, { recursive: true, force: true });
  }
});
