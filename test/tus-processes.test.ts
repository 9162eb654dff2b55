/**
 * tus across processes: `serve --workers 2` (the upload routes forwarded to the owner) and two
 * processes over one bucket (no upload state in a process), with the PATCHes of one upload
 * alternating between them; and, over the bucket, two PATCHes racing from two processes at one
 * offset: one counts, the other is 409, and the bytes are never interleaved.
 */
import assert from 'node:assert/strict';
import { mkdir } from 'node:fs/promises';
import type { Socket } from 'node:net';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { md5, randomBytesSeeded } from './helpers/bytes.js';
import { killAllServers, spawnServer } from './helpers/child-server.js';
import { answeringWorkers } from './helpers/health.js';
import { openSocket, parseResponse } from './helpers/raw-http.js';
import { OCTETS, send, TUS } from './helpers/resumable.js';
import { emptyPrefix, s3Endpoint, s3ServeArgs, s3Storage } from './helpers/s3.js';
import { tempDir } from './helpers/server.js';

after(() => killAllServers());
const ep = s3Endpoint();
/** A new connection per request: the cluster hands each to the next worker. */
const CLOSE = { Connection: 'close' };

async function patchInTurns(bases: string[], path: string, data: Buffer, pieces: number): Promise<void> {
  const step = Math.ceil(data.length / pieces);
  for (let i = 0, at = 0; at < data.length; i++, at += step) {
    const base = bases[i % bases.length]!;
    const a = await send(
      `${base}${path}`,
      'PATCH',
      { ...OCTETS, ...CLOSE, 'Upload-Offset': String(at) },
      data.subarray(at, at + step),
    );
    assert.equal(a.status, 204, `PATCH ${i} via ${base}: ${a.text}`);
    assert.equal(a.headers.get('upload-offset'), String(Math.min(at + step, data.length)));
  }
}

interface RawConnection {
  write(data: Buffer | string): void;
  /** Resolves with everything received once `done` says so (10 s at most). */
  until(done: (text: string) => boolean): Promise<string>;
  end(): void;
}

function rawConnection(socket: Socket): RawConnection {
  let text = '';
  let check: (() => void) | undefined;
  socket.on('data', (b: Buffer) => {
    text += b.toString('latin1');
    check?.();
  });
  socket.on('error', () => undefined);
  return {
    write: (data) => socket.write(data),
    until: (done) =>
      new Promise((resolve, reject) => {
        const timer = setTimeout(() => reject(new Error(`no such answer in 10 s; got:\n${text}`)), 10_000);
        check = () => {
          if (!done(text)) return;
          clearTimeout(timer);
          check = undefined;
          const got = text;
          text = '';
          resolve(got);
        };
        check();
      }),
    end: () => socket.destroy(),
  };
}

/** Whether `text` holds a whole answer with a Content-Length. */
function complete(text: string): boolean {
  const answer = parseResponse(text);
  const length = /\r\ncontent-length: (\d+)/i.exec(answer.head)?.[1];
  return length !== undefined && Buffer.byteLength(answer.body, 'latin1') >= Number(length);
}

/**
 * A connection served by the reader of `serve --workers 2` (the cluster hands connections out in
 * turn): asks /api/health on it, and tries a new one while the owner answers.
 */
async function readerConnection(base: string): Promise<RawConnection> {
  for (let i = 0; i < 20; i++) {
    const conn = rawConnection(await openSocket(base));
    conn.write('GET /api/health HTTP/1.1\r\nHost: localhost\r\n\r\n');
    const answer = parseResponse(await conn.until(complete));
    if ((JSON.parse(answer.body) as { data: { worker?: string } }).data.worker === 'reader') return conn;
    conn.end();
  }
  throw new Error('no connection reached the reader in 20 tries');
}

describe('tus across processes', { timeout: 120_000 }, () => {
  it('serve --workers 2: PATCHes on new connections (alternating workers) build one exact file', async () => {
    const dir = await tempDir('rt-tus-workers-');
    await mkdir(join(dir, 'lib'));
    const server = await spawnServer(join(dir, 'data'), ['--workers', '2', '--library', join(dir, 'lib')]);
    try {
      const data = randomBytesSeeded(3 * 1024 * 1024 + 17, 81);
      const created = await send(`${server.url}/files/`, 'POST', {
        ...TUS,
        ...CLOSE,
        'Upload-Length': String(data.length),
      });
      assert.equal(created.status, 201);
      const path = new URL(created.headers.get('location')!).pathname;
      await patchInTurns([server.url], path, data, 6);
      const got = await fetch(`${server.url}/upload/${md5(data)}`, { headers: CLOSE });
      assert.ok(Buffer.from(await got.arrayBuffer()).equals(data));
    } finally {
      await server.kill();
    }
  });

  it('serve --workers 2: an IETF creation through the reader gets the 104 of the owner, with the Location, before the body is all sent', async () => {
    const dir = await tempDir('rt-ietf-workers-');
    await mkdir(join(dir, 'lib'));
    const server = await spawnServer(join(dir, 'data'), ['--workers', '2', '--library', join(dir, 'lib')]);
    try {
      assert.equal((await answeringWorkers(server.url)).size, 2, 'both workers answer');
      const socket = await readerConnection(server.url);
      const data = randomBytesSeeded(2 * 1024 * 1024 + 3, 84);
      const half = 1024 * 1024;
      const head =
        'POST /files/ HTTP/1.1\r\nHost: localhost\r\nUpload-Draft-Interop-Version: 6\r\n' +
        `Upload-Complete: ?1\r\nContent-Length: ${data.length}\r\n\r\n`;
      socket.write(Buffer.concat([Buffer.from(head), data.subarray(0, half)]));
      // Half the body sent, the other half held back: the 104 must come now, through the reader.
      const early = await socket.until((text) => /\r\n\r\n/.test(text));
      const info = parseResponse(early);
      assert.equal(info.status, 104, early);
      assert.match(info.head, /^HTTP\/1\.1 104 Upload Resumption Supported\r\n/);
      const location = /\r\nLocation: (\S+)/i.exec(info.head)?.[1];
      assert.match(location ?? '', /\/files\/[A-Za-z0-9_-]{24}$/);
      assert.doesNotMatch(early, /HTTP\/1\.1 2\d\d/, 'no final answer before the body is all sent');

      socket.write(data.subarray(half));
      const all = await socket.until((text) => /HTTP\/1\.1 201 [\s\S]*?\r\n\r\n/.test(text));
      const final = parseResponse(all.slice(all.indexOf('HTTP/1.1 201')));
      assert.equal(final.status, 201, all);
      assert.equal(/\r\nLocation: (\S+)/i.exec(final.head)?.[1], location);
      assert.match(final.head, /\r\nUpload-Complete: \?1/i);
      socket.end();
      const got = await fetch(`${server.url}/upload/${md5(data)}`, { headers: CLOSE });
      assert.ok(Buffer.from(await got.arrayBuffer()).equals(data));
    } finally {
      await server.kill();
    }
  });

  describe('two processes over one bucket', { skip: typeof ep === 'string' ? ep : false }, () => {
    it('the PATCHes of one upload alternate between the processes; racing PATCHes: one 204, one 409, never interleaved', async () => {
      if (typeof ep === 'string') return;
      const dir = await tempDir('rt-tus-peers-');
      await mkdir(join(dir, 'lib'));
      const store = s3Storage(ep);
      const args = [...s3ServeArgs(ep, store.prefix), '--library', join(dir, 'lib'), '--log-level', 'error'];
      const [a, b] = await Promise.all([
        spawnServer(join(dir, 'a'), args),
        spawnServer(join(dir, 'b'), args),
      ]);
      try {
        const data = randomBytesSeeded(12 * 1024 * 1024 + 5, 82);
        const created = await send(`${a.url}/files/`, 'POST', {
          ...TUS,
          'Upload-Length': String(data.length),
        });
        const path = new URL(created.headers.get('location')!).pathname;
        const half = 6 * 1024 * 1024;
        await patchInTurns([a.url, b.url], path, data.subarray(0, half), 4);

        // Two PATCHes at the same offset through the two processes at once.
        const part = 3 * 1024 * 1024;
        const mine = data.subarray(half, half + part);
        const theirs = randomBytesSeeded(part, 83);
        const headers = { ...OCTETS, 'Upload-Offset': String(half) };
        const [ra, rb] = await Promise.all([
          send(`${a.url}${path}`, 'PATCH', headers, mine),
          send(`${b.url}${path}`, 'PATCH', headers, theirs),
        ]);
        assert.deepEqual([ra.status, rb.status].sort(), [204, 409]);
        const winner = ra.status === 204 ? mine : theirs;

        const rest = data.subarray(half + part);
        const done = await send(
          `${b.url}${path}`,
          'PATCH',
          { ...OCTETS, 'Upload-Offset': String(half + part) },
          rest,
        );
        assert.equal(done.status, 204, done.text);
        const expected = Buffer.concat([data.subarray(0, half), winner, rest]);
        const got = await fetch(`${a.url}/upload/${md5(expected)}`);
        assert.equal(got.status, 200);
        assert.ok(Buffer.from(await got.arrayBuffer()).equals(expected));
      } finally {
        await Promise.all([a.kill(), b.kill()]);
        await emptyPrefix(store);
        await store.close();
      }
    });
  });
});
