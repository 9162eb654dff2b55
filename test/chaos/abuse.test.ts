/**
 * A catalogue of malformed and hostile requests against a real server process: each must get
 * the right status and error envelope, the server must stay up, answer normal requests while
 * slow-loris connections hang on, and keep its memory bounded.
 */
import assert from 'node:assert/strict';
import { mkdir, readdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { after, it } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { peakRss } from '../../bench/measure.js';
import { cut, md5, randomBytesSeeded } from '../helpers/bytes.js';
import { killAllServers, spawnServer } from '../helpers/child-server.js';
import { openSocket, parseResponse, type RawResponse, rawRequest } from '../helpers/raw-http.js';
import { tempDir } from '../helpers/server.js';
import { figures, saveFigures } from './report.js';

after(() => killAllServers());

interface Outcome {
  status: number;
  error?: string | undefined;
  envelope: boolean;
}

interface Case {
  name: string;
  run: () => Promise<Outcome>;
  status: number;
  error?: string;
}

function outcome(r: RawResponse): Outcome {
  try {
    const b = JSON.parse(r.body) as { code?: number; error?: string; data?: unknown };
    return { status: r.status, error: b.error, envelope: b.code === r.status && b.data === null };
  } catch {
    return { status: r.status, envelope: false };
  }
}

it('every hostile request gets its 4xx envelope; the server stays up and small', {
  timeout: 120_000,
}, async () => {
  const f = figures();
  const dir = await tempDir('rt-abuse-');
  const lib = join(dir, 'lib');
  await mkdir(lib);
  await writeFile(join(lib, 'pic.jpg'), randomBytesSeeded(256 * 1024, 7));
  await writeFile(join(lib, '.hidden'), 'secret');
  const server = await spawnServer(join(dir, 'data'), [
    '--library',
    lib,
    '--max-chunk-size',
    '1MiB',
    '--min-body-rate',
    '1KiB',
    '--body-rate-window',
    '2s',
    '--log-level',
    'error',
  ]);
  const url = server.url;
  const { host } = new URL(url);
  const plan = cut(randomBytesSeeded(512 * 1024, 8), 256 * 1024);
  const known = { fileId: plan.fileId, ext: '.bin', chunkIds: plan.chunkIds };
  const unknownId = md5('nobody uploaded this');

  const raw = async (text: string | Buffer, timeoutMs = 5000) => {
    f.requests++;
    f.bytes += Buffer.byteLength(text);
    return outcome(await rawRequest(url, text, timeoutMs));
  };
  const http = (method: string, path: string, headers: Record<string, string> = {}, body = '') => {
    const lines = Object.entries({ host, connection: 'close', ...headers }).map(([k, v]) => `${k}: ${v}`);
    if (body || method === 'POST') lines.push(`content-length: ${Buffer.byteLength(body)}`);
    return raw(`${method} ${path} HTTP/1.1\r\n${lines.join('\r\n')}\r\n\r\n${body}`);
  };
  const hs = (body: unknown, type = 'application/json') =>
    http(
      'POST',
      '/api/upload/handshake',
      { 'content-type': type },
      typeof body === 'string' ? body : JSON.stringify(body),
    );
  const multipart = (parts: [string, string, string?][], close = true) => {
    const b = 'XyZ';
    const text =
      parts
        .map(
          ([name, value, filename]) =>
            `--${b}\r\nContent-Disposition: form-data; name="${name}"${filename ? `; filename="${filename}"` : ''}\r\n\r\n${value}\r\n`,
        )
        .join('') + (close ? `--${b}--\r\n` : '');
    return http('POST', '/api/upload', { 'content-type': `multipart/form-data; boundary=${b}` }, text);
  };
  const rawChunk = (query: string, body: string, headers: Record<string, string> = {}) =>
    http('POST', `/api/upload?${query}`, { 'content-type': 'application/octet-stream', ...headers }, body);

  // A real plan for the chunk cases.
  const setup = await hs(known);
  assert.equal(setup.status, 200);

  const traversal = [
    '../../etc/passwd',
    '..%2f..%2fetc',
    `${'a'.repeat(31)}\u0000`,
    'a'.repeat(10_000),
    '/etc/passwd',
  ];
  const cases: Case[] = [
    { name: 'handshake: cut-off JSON', run: () => hs('{"fileId":'), status: 400, error: 'MALFORMED_BODY' },
    { name: 'handshake: JSON array', run: () => hs('[1,2,3]'), status: 400, error: 'MALFORMED_BODY' },
    { name: 'handshake: empty body', run: () => hs(''), status: 403, error: 'MISSING_FILE_ID' },
    {
      name: 'handshake: no fileId',
      run: () => hs({ ext: '.bin', chunkIds: known.chunkIds }),
      status: 403,
      error: 'MISSING_FILE_ID',
    },
    {
      name: 'handshake: no ext',
      run: () => hs({ fileId: known.fileId, chunkIds: known.chunkIds }),
      status: 403,
      error: 'MISSING_EXT',
    },
    {
      name: 'handshake: no chunkIds',
      run: () => hs({ fileId: known.fileId, ext: '.bin' }),
      status: 403,
      error: 'MISSING_CHUNK_IDS',
    },
    {
      name: 'handshake: empty chunkIds',
      run: () => hs({ ...known, chunkIds: [] }),
      status: 403,
      error: 'MISSING_CHUNK_IDS',
    },
    {
      name: 'handshake: chunkIds a string',
      run: () => hs({ ...known, chunkIds: 'abc' }),
      status: 403,
      error: 'MISSING_CHUNK_IDS',
    },
    ...traversal.map(
      (bad): Case => ({
        name: `handshake: fileId ${JSON.stringify(bad.slice(0, 20))}`,
        run: () => hs({ ...known, fileId: bad }),
        status: 400,
        error: 'INVALID_FILE_ID',
      }),
    ),
    {
      name: 'handshake: ext with traversal',
      run: () => hs({ ...known, ext: '/../../x' }),
      status: 400,
      error: 'INVALID_EXT',
    },
    {
      name: 'handshake: ext with NUL',
      run: () => hs({ ...known, ext: '.php\u0000.jpg' }),
      status: 400,
      error: 'INVALID_EXT',
    },
    {
      name: 'handshake: ext with CR/LF',
      run: () => hs({ ...known, ext: '.jpg\r\nSet-Cookie: a=b' }),
      status: 400,
      error: 'INVALID_EXT',
    },
    {
      name: 'handshake: chunk id with traversal',
      run: () => hs({ ...known, chunkIds: ['../../etc/passwd'] }),
      status: 400,
      error: 'INVALID_CHUNK_ID',
    },
    {
      name: 'handshake: 100,001 chunk ids',
      run: () =>
        hs({ ...known, chunkIds: Array.from({ length: 100_001 }, (_, i) => `${'a'.repeat(32)}${i}`) }),
      status: 413,
      error: 'TOO_MANY_CHUNKS',
    },
    {
      name: 'handshake: 20 MB body',
      run: () => hs(`{"x":"${'a'.repeat(20_000_000)}"}`),
      status: 413,
      error: 'BODY_TOO_LARGE',
    },
    {
      name: 'handshake: application/xml',
      run: () => hs('<fileId/>', 'application/xml'),
      status: 415,
      error: 'UNSUPPORTED_MEDIA_TYPE',
    },
    {
      name: 'handshake: multipart without its end',
      run: () =>
        http(
          'POST',
          '/api/upload/handshake',
          { 'content-type': 'multipart/form-data; boundary=Q' },
          '--Q\r\nContent-Disposition: form-data; name="fileId"\r\n\r\nabc',
        ),
      status: 400,
      error: 'MALFORMED_BODY',
    },
    {
      name: 'chunk: no fileId',
      run: () =>
        multipart([
          ['chunkId', known.chunkIds[0]!],
          ['file', 'x', 'blob'],
        ]),
      status: 403,
      error: 'MISSING_FILE_ID',
    },
    {
      name: 'chunk: no chunkId',
      run: () =>
        multipart([
          ['fileId', known.fileId],
          ['file', 'x', 'blob'],
        ]),
      status: 403,
      error: 'MISSING_CHUNK_ID',
    },
    {
      name: 'chunk: no file part',
      run: () =>
        multipart([
          ['fileId', known.fileId],
          ['chunkId', known.chunkIds[0]!],
        ]),
      status: 403,
      error: 'MISSING_CHUNK_DATA',
    },
    {
      name: 'chunk: unknown upload',
      run: () => rawChunk(`fileId=${unknownId}&chunkId=${known.chunkIds[0]}`, 'x'),
      status: 404,
      error: 'UPLOAD_NOT_FOUND',
    },
    {
      name: 'chunk: id not in the plan',
      run: () => rawChunk(`fileId=${known.fileId}&chunkId=${unknownId}0`, 'x'),
      status: 409,
      error: 'CHUNK_NOT_IN_PLAN',
    },
    {
      name: 'chunk: bytes that are not the chunk',
      run: () => rawChunk(`fileId=${known.fileId}&chunkId=${known.chunkIds[0]}`, 'not these bytes'),
      status: 422,
      error: 'CHUNK_MD5_MISMATCH',
    },
    {
      name: 'chunk: over the size limit',
      run: () => rawChunk(`fileId=${known.fileId}&chunkId=${known.chunkIds[0]}`, 'a'.repeat(2 * 1024 * 1024)),
      status: 413,
      error: 'CHUNK_TOO_LARGE',
    },
    {
      name: 'chunk: Content-Length of 10 GB',
      run: () =>
        raw(
          `POST /api/upload?fileId=${known.fileId}&chunkId=${known.chunkIds[0]} HTTP/1.1\r\nhost: ${host}\r\ncontent-type: application/octet-stream\r\ncontent-length: 10000000000\r\n\r\nabc`,
        ),
      status: 413,
      error: 'CHUNK_TOO_LARGE',
    },
    {
      name: 'chunk: chunkId with traversal',
      run: () => rawChunk(`fileId=${known.fileId}&chunkId=..%2F..%2Fx`, 'x'),
      status: 400,
      error: 'INVALID_CHUNK_ID',
    },
    {
      name: 'chunk: fileId with traversal',
      run: () => rawChunk(`fileId=..%2F..%2Fetc&chunkId=${known.chunkIds[0]}`, 'x'),
      status: 400,
      error: 'INVALID_FILE_ID',
    },
    {
      name: 'chunk: multipart without its end',
      run: () =>
        multipart(
          [
            ['fileId', known.fileId],
            ['chunkId', known.chunkIds[0]!],
            ['file', 'xyz', 'blob'],
          ],
          false,
        ),
      status: 400,
      error: 'MALFORMED_BODY',
    },
    {
      name: 'chunk: multipart without a boundary',
      run: () => http('POST', '/api/upload', { 'content-type': 'multipart/form-data' }, 'abc'),
      status: 400,
      error: 'MALFORMED_BODY',
    },
    {
      name: 'chunk: slow-loris body (a byte every 300 ms)',
      run: async () => {
        f.requests++;
        const s = await openSocket(url);
        const got: Buffer[] = [];
        s.on('data', (b: Buffer) => got.push(b));
        s.on('error', () => undefined);
        s.write(
          `POST /api/upload?fileId=${known.fileId}&chunkId=${known.chunkIds[0]} HTTP/1.1\r\nhost: ${host}\r\ncontent-type: application/octet-stream\r\ncontent-length: 262144\r\n\r\n`,
        );
        const timer = setInterval(() => s.writable && s.write('a'), 300);
        await new Promise((resolve) => s.once('close', resolve));
        clearInterval(timer);
        return outcome(parseResponse(Buffer.concat(got).toString('latin1')));
      },
      status: 408,
      error: 'BODY_TOO_SLOW',
    },
    {
      name: 'HTTP: Content-Length and chunked together',
      run: () =>
        raw(
          `POST /api/upload/handshake HTTP/1.1\r\nhost: ${host}\r\ncontent-length: 5\r\ntransfer-encoding: chunked\r\n\r\n0\r\n\r\n`,
        ),
      status: 400,
      error: 'MALFORMED_REQUEST',
    },
    {
      name: 'HTTP: broken chunked encoding',
      run: () =>
        raw(
          `POST /api/upload/handshake HTTP/1.1\r\nhost: ${host}\r\ncontent-type: application/json\r\ntransfer-encoding: chunked\r\n\r\nzz\r\n{}\r\n0\r\n\r\n`,
        ),
      status: 400,
      error: 'MALFORMED_REQUEST',
    },
    {
      name: 'HTTP: 100 KB header',
      run: () => http('GET', '/api/files', { 'x-junk': 'a'.repeat(100_000) }),
      status: 431,
      error: 'HEADERS_TOO_LARGE',
    },
    {
      name: 'HTTP: 20 KB URL',
      run: () => http('GET', `/download/${'a'.repeat(20_000)}`),
      status: 431,
      error: 'HEADERS_TOO_LARGE',
    },
    {
      name: 'HTTP: not HTTP at all',
      run: () => raw('HELLO\r\n\r\n'),
      status: 400,
      error: 'MALFORMED_REQUEST',
    },
    {
      // An invalid Host is never used to build links (the listen address is).
      name: 'HTTP: a Host that tries to get into the links',
      run: async () => {
        f.requests++;
        const r = await rawRequest(
          url,
          'GET /api/files HTTP/1.1\r\nhost: evil.example/../x\r\nconnection: close\r\n\r\n',
        );
        return { status: r.body.includes('evil') ? 599 : r.status, envelope: true };
      },
      status: 200,
    },
    {
      name: 'download: encoded traversal',
      run: () => http('GET', '/download/..%2f..%2fetc%2fpasswd'),
      status: 404,
      error: 'NOT_FOUND',
    },
    {
      name: 'download: dot-dot segment',
      run: () => http('GET', '/download/%2e%2e/%2e%2e/etc/passwd'),
      status: 404,
      error: 'NOT_FOUND',
    },
    {
      name: 'download: dotfile',
      run: () => http('GET', '/download/.hidden'),
      status: 404,
      error: 'NOT_FOUND',
    },
    {
      name: 'download: NUL in name',
      run: () => http('GET', '/download/pic.jpg%00.txt'),
      status: 404,
      error: 'NOT_FOUND',
    },
    {
      name: 'download: PUT',
      run: () => http('PUT', '/download/pic.jpg', {}, 'x'),
      status: 405,
      error: 'METHOD_NOT_ALLOWED',
    },
    {
      name: 'download: 20-digit range start',
      run: () => http('GET', '/download/pic.jpg', { range: 'bytes=99999999999999999999-' }),
      status: 416,
    },
    {
      name: 'uploaded file: traversal',
      run: () => http('GET', '/upload/..%2f..%2fdata%2fplan.json'),
      status: 404,
      error: 'NOT_FOUND',
    },
    {
      name: 'uploaded file: never uploaded',
      run: () => http('GET', `/upload/${unknownId}.bin`),
      status: 404,
      error: 'NOT_FOUND',
    },
    {
      name: 'api: GET on the handshake',
      run: () => http('GET', '/api/upload/handshake'),
      status: 405,
      error: 'METHOD_NOT_ALLOWED',
    },
    {
      name: 'api: DELETE /api/files',
      run: () => http('DELETE', '/api/files'),
      status: 405,
      error: 'METHOD_NOT_ALLOWED',
    },
    { name: 'api: unknown route', run: () => http('GET', '/api/nope'), status: 404, error: 'NOT_FOUND' },
    {
      name: 'api: abandon an unknown upload',
      run: () => http('DELETE', `/api/upload/${unknownId}`),
      status: 404,
      error: 'UPLOAD_NOT_FOUND',
    },
    {
      name: 'api: upload state with traversal',
      run: () => http('GET', '/api/upload/..%2f..%2fetc'),
      status: 400,
      error: 'INVALID_FILE_ID',
    },
  ];

  // Slow-loris connections that never finish their headers hang on while the catalogue runs
  // (from another address: over its cap of 64 connections, the rest are refused).
  const loris = await Promise.all(
    Array.from({ length: 100 }, async () => {
      const s = await openSocket(url, '127.0.0.2');
      s.on('error', () => undefined);
      s.write(`GET /api/files HTTP/1.1\r\nhost: ${host}\r\nx-a: `);
      return s;
    }),
  );
  const rssBefore = await peakRss(server.proc.pid!);
  const failures: string[] = [];
  const lines: string[] = [];
  for (const c of cases) {
    const o = await c.run();
    const ok =
      o.status === c.status &&
      (c.error === undefined || o.error === c.error) &&
      (o.status === 416 || o.envelope);
    lines.push(
      `${ok ? 'ok  ' : 'FAIL'} ${String(o.status).padEnd(4)} ${(o.error ?? '').padEnd(22)} ${c.name}`,
    );
    if (!ok)
      failures.push(
        `${c.name}: expected ${c.status} ${c.error ?? ''}, got ${o.status} ${o.error ?? ''} envelope=${o.envelope}`,
      );
  }
  console.log(lines.join('\n'));
  // Still up, still answering, nothing unexpected on disk, memory bounded.
  const health = await fetch(`${url}/api/health`);
  assert.equal(health.status, 200);
  const rss = await peakRss(server.proc.pid!);
  for (const s of loris) s.destroy();
  const held = await readdir(join(dir, 'data', 'uploads', known.fileId, 'chunks')).catch(() => []);
  f.faults = { hostile: cases.length, slowLoris: loris.length + 1 };
  f.notes.push(
    `${cases.length} hostile requests, server peak RSS ${(rss / 1e6).toFixed(0)} MB (${(rssBefore / 1e6).toFixed(0)} MB before)`,
  );
  await saveFigures('abuse', f);
  await server.stop();
  assert.deepEqual(failures, []);
  assert.ok(cases.length >= 40, `${cases.length} cases`);
  assert.deepEqual(held, [], 'no hostile request left a chunk behind');
  assert.ok(rss < 250e6, `server peak RSS ${rss} bytes`);
  await sleep(0);
});
