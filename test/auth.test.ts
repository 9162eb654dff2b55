/**
 * Access control (issue 16): the hook, the bearer-token and signed-token modes, 401 vs 403, the
 * clients' credentials (never retried), the CLI's exit codes and what never shows a secret.
 */
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdir, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import { after, before, describe, it } from 'node:test';
import { pino } from 'pino';
import { type ByteSource, download, upload } from '../src/client/node/index.js';
import { TransferError } from '../src/protocol/errors.js';
import {
  type AuthRequest,
  allow,
  principalOf,
  type RunningServer,
  signUploadToken,
  startServer,
} from '../src/server/index.js';
import { handshake, sendChunk } from './helpers/api.js';
import { cut, md5, randomBytesSeeded } from './helpers/bytes.js';
import { startTestServer, type TestServer, tempDir } from './helpers/server.js';

const SECRET = 'a-test-secret-of-at-least-32-bytes-long!';
const hour = () => Date.now() / 1000 + 3600;
const bearer = (token: string) => ({ authorization: `Bearer ${token}` });

function bufferSource(data: Buffer, name: string): ByteSource {
  return {
    name,
    size: data.length,
    cacheKey: undefined,
    async *stream() {
      yield data;
    },
    slice: async (start, end) => data.subarray(start, end),
  };
}

/** A fetch that counts the requests our client sends. */
/** Counts the requests that carry the credentials' verdict (not the public /api/version). */
function countingFetch(): { fetch: typeof fetch; count: () => number } {
  let n = 0;
  return {
    fetch: ((input: string | URL | Request, init?: RequestInit) => {
      if (!String(input).endsWith('/api/version')) n++;
      return fetch(input, init);
    }) as typeof fetch,
    count: () => n,
  };
}

async function rejects(p: Promise<unknown>, code: string): Promise<TransferError> {
  try {
    await p;
  } catch (err: unknown) {
    assert.ok(err instanceof TransferError, String(err));
    assert.equal(err.code, code);
    return err;
  }
  assert.fail(`expected ${code}`);
}

describe('signed upload tokens (--auth signed)', () => {
  let srv: TestServer;
  before(async () => {
    srv = await startTestServer({ auth: 'signed', authSecret: SECRET });
  });
  after(() => srv.close());

  const file = cut(randomBytesSeeded(300_000, 41), 100_000);
  const body = { fileId: file.fileId, ext: '.bin', chunkIds: file.chunkIds, size: 300_000 };

  it('missing, wrongly signed or expired: 401 UNAUTHORIZED with a Bearer challenge, nothing stored', async () => {
    const valid = signUploadToken(SECRET, { exp: hour() });
    const [payload] = valid.split('.');
    const cases: Record<string, string>[] = [
      {},
      bearer(`${payload}.${'A'.repeat(43)}`),
      bearer(signUploadToken(`${SECRET}-other`, { exp: hour() })),
      bearer(signUploadToken(SECRET, { exp: Date.now() / 1000 - 1 })),
      { authorization: 'Basic dXNlcjpwYXNz' },
    ];
    for (const headers of cases) {
      const a = await handshake(srv.url, body, headers);
      assert.equal(a.status, 401);
      assert.equal(a.body.error, 'UNAUTHORIZED');
      assert.equal(a.headers.get('www-authenticate'), 'Bearer realm="resumable-transfer"');
      // The answer never echoes the token or the secret.
      assert.ok(!JSON.stringify(a.body).includes(SECRET));
      if (headers.authorization) assert.ok(!JSON.stringify(a.body).includes(headers.authorization.slice(7)));
    }
    const state = await fetch(`${srv.url}/api/upload/${file.fileId}`, {
      headers: bearer(signUploadToken(SECRET, { exp: hour() })),
    });
    assert.equal(((await state.json()) as { error: string }).error, 'UPLOAD_NOT_FOUND');
  });

  it('valid but over its size, or for another fileId: 403 FORBIDDEN', async () => {
    const small = signUploadToken(SECRET, { exp: hour(), max: 1000 });
    const over = await handshake(srv.url, body, bearer(small));
    assert.equal(over.status, 403);
    assert.equal(over.body.error, 'FORBIDDEN');
    // A size-bound token needs the size declared.
    const { size: _size, ...undeclared } = body;
    assert.equal((await handshake(srv.url, undeclared, bearer(small))).body.error, 'FORBIDDEN');

    const other = signUploadToken(SECRET, { exp: hour(), fid: md5('another file') });
    const wrong = await handshake(srv.url, body, bearer(other));
    assert.equal(wrong.status, 403);
    assert.equal(wrong.body.error, 'FORBIDDEN');
    // Chunks: a multipart chunk (fileId in the body) and a raw one (fileId in the query, refused
    // before its body is read); a chunk larger than the token allows.
    const firstChunk = (token: string) =>
      sendChunk(
        srv.url,
        { fileId: file.fileId, chunkId: file.chunkIds[0]!, file: file.chunks[0]! },
        undefined,
        bearer(token),
      );
    assert.equal((await firstChunk(other)).body.error, 'FORBIDDEN');
    const raw = await fetch(`${srv.url}/api/upload?fileId=${file.fileId}&chunkId=${file.chunkIds[0]}`, {
      method: 'POST',
      headers: { 'content-type': 'application/octet-stream', ...bearer(other) },
      body: file.chunks[0]! as Uint8Array<ArrayBuffer>,
    });
    assert.equal(raw.status, 403);
    const tiny = signUploadToken(SECRET, { exp: hour(), max: 10 });
    assert.equal((await firstChunk(tiny)).body.error, 'FORBIDDEN');
    // Download of an upload and its state with a token for another file.
    assert.equal(
      (await fetch(`${srv.url}/api/upload/${file.fileId}`, { headers: bearer(other) })).status,
      403,
    );
  });

  it('a token for this file and size uploads it through our client, and downloads it', async () => {
    const token = signUploadToken(SECRET, { exp: hour(), max: 300_000, fid: file.fileId, sub: 'alice' });
    const src = randomBytesSeeded(300_000, 41);
    const r = await upload(bufferSource(src, 'x.bin'), {
      server: srv.url,
      chunkSize: 100_000,
      headers: bearer(token),
      hashCache: false,
      retries: 0,
    });
    assert.equal(r.fileId, file.fileId);
    const anonymous = await fetch(r.url);
    assert.equal(anonymous.status, 401);
    const res = await fetch(r.url, { headers: bearer(token) });
    assert.equal(res.status, 200);
    assert.equal(md5(Buffer.from(await res.arrayBuffer())), file.fileId);
    // Private to shared caches once access control is on.
    assert.match(res.headers.get('cache-control') ?? '', /^private/);
  });

  it('401 and 403 are never retried by our client (one request each)', async () => {
    const data = randomBytesSeeded(1000, 43);
    const source = bufferSource(data, 'y.bin');
    const c1 = countingFetch();
    await rejects(
      upload(source, { server: srv.url, fetch: c1.fetch, hashCache: false, headers: bearer('nope.nope') }),
      'UNAUTHORIZED',
    );
    assert.equal(c1.count(), 1);
    const c2 = countingFetch();
    const other = signUploadToken(SECRET, { exp: hour(), fid: md5('x') });
    await rejects(
      upload(source, { server: srv.url, fetch: c2.fetch, hashCache: false, headers: bearer(other) }),
      'FORBIDDEN',
    );
    assert.equal(c2.count(), 1);
    const dir = await tempDir();
    try {
      const c3 = countingFetch();
      await rejects(
        download(`${srv.url}/upload/${file.fileId}.bin`, { destination: `${dir}/`, fetch: c3.fetch }),
        'UNAUTHORIZED',
      );
      assert.equal(c3.count(), 1);
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });

  it('the library under /download/ and health stay public; /api/files needs a token', async () => {
    assert.equal((await fetch(`${srv.url}/api/health`)).status, 200);
    assert.equal((await fetch(`${srv.url}/api/files`)).status, 401);
    const token = signUploadToken(SECRET, { exp: hour() });
    assert.equal((await fetch(`${srv.url}/api/files`, { headers: bearer(token) })).status, 200);
    assert.equal((await fetch(`${srv.url}/download/none.bin`)).status, 404);
  });
});

describe('bearer tokens from a file (--auth token)', () => {
  let srv: TestServer;
  let dir: string;
  const alice = 'alice-token-0123456789abcdef';
  const plain = 'plain-token-0123456789abcdef';
  before(async () => {
    dir = await tempDir();
    await writeFile(join(dir, 'tokens'), `# who may upload\nalice:${alice}\n\n${plain}\n`);
    srv = await startTestServer({ auth: 'token', authTokensFile: join(dir, 'tokens') });
  });
  after(async () => {
    await srv.close();
    await rm(dir, { recursive: true, force: true });
  });

  it('the tus endpoint asks the same: creation and appends without a token get 401', async () => {
    const tus = { 'Tus-Resumable': '1.0.0' };
    const create = (headers: Record<string, string>) =>
      fetch(`${srv.url}/files/`, { method: 'POST', headers: { ...tus, 'Upload-Length': '5', ...headers } });
    assert.equal((await create({})).status, 401);
    const made = await create({ Authorization: `Bearer ${alice}` });
    assert.equal(made.status, 201);
    const at = made.headers.get('location')!;
    const patch = (headers: Record<string, string>) =>
      fetch(at, {
        method: 'PATCH',
        headers: {
          ...tus,
          'Upload-Offset': '0',
          'Content-Type': 'application/offset+octet-stream',
          ...headers,
        },
        body: 'hello',
      });
    assert.equal((await patch({})).status, 401);
    assert.equal((await patch({ Authorization: `Bearer ${alice}` })).status, 204);
    // Discovery stays public.
    assert.equal((await fetch(`${srv.url}/files/`, { method: 'OPTIONS', headers: tus })).status, 204);
  });

  it('a listed token uploads; an unknown or missing one gets 401', async () => {
    const c = cut(Buffer.from('bearer tokens from a file'));
    const body = { fileId: c.fileId, ext: '.txt', chunkIds: c.chunkIds };
    assert.equal((await handshake(srv.url, body)).status, 401);
    assert.equal((await handshake(srv.url, body, bearer('unknown-token-0123456789'))).status, 401);
    for (const token of [alice, plain]) {
      const a = await handshake(srv.url, body, bearer(token));
      assert.equal(a.status, 200, JSON.stringify(a.body));
    }
    const r = await sendChunk(
      srv.url,
      { fileId: c.fileId, chunkId: c.chunkIds[0]!, file: c.chunks[0]! },
      undefined,
      bearer(alice),
    );
    assert.equal(r.status, 200);
    assert.ok(r.body.url);
  });

  it('a missing tokens file or a short token stops the start, naming no secret', async () => {
    await assert.rejects(
      startTestServer({ auth: 'token', authTokensFile: join(dir, 'missing') }),
      /cannot read the tokens file/,
    );
    await assert.rejects(startTestServer({ auth: 'token', authTokens: ['short'] }), /at least 16/);
    await assert.rejects(startTestServer({ auth: 'signed', authSecret: 'short' }), /at least 32 bytes/);
    await assert.rejects(startTestServer({ auth: 'signed' }), /needs --auth-secret-file/);
  });
});

describe('the authorize hook', () => {
  let running: RunningServer;
  let dir: string;
  const calls: { action: string; fileId: string | undefined; phase: string; size: number | undefined }[] = [];
  const principals: (string | undefined)[] = [];
  before(async () => {
    dir = await tempDir();
    await mkdir(join(dir, 'lib'));
    running = await startServer(
      { port: 0, logLevel: 'silent', dataDir: dir, libraryDirs: [join(dir, 'lib')] },
      {
        authorize: (r: AuthRequest) => {
          calls.push({ action: r.action, fileId: r.fileId, phase: r.phase, size: r.size });
          principals.push(principalOf(r.request));
          if (r.request.headers['x-user'] === 'mallory') return false;
          return allow(String(r.request.headers['x-user'] ?? 'anonymous'));
        },
      },
    );
  });
  after(async () => {
    await running.close();
    await rm(dir, { recursive: true, force: true });
  });

  it('sees every action, with the fileId once known, before and after the body', async () => {
    const c = cut(Buffer.from('the hook sees each action'));
    const h = { 'x-user': 'alice' };
    await handshake(running.url, { fileId: c.fileId, ext: '.txt', chunkIds: c.chunkIds, size: 25 }, h);
    const r = await sendChunk(
      running.url,
      { fileId: c.fileId, chunkId: c.chunkIds[0]!, file: c.chunks[0]! },
      undefined,
      h,
    );
    assert.equal(r.status, 200);
    await fetch(`${running.url}/api/upload/${c.fileId}`, { headers: h });
    await fetch(`${running.url}/upload/${c.fileId}.txt`, { headers: h });
    await fetch(`${running.url}/api/files`, { headers: h });
    await fetch(`${running.url}/api/upload/${c.fileId}`, { method: 'DELETE', headers: h });
    await fetch(`${running.url}/download/x.bin`);
    await fetch(`${running.url}/api/health`);
    assert.deepEqual(calls, [
      { action: 'handshake', fileId: undefined, phase: 'headers', size: undefined },
      { action: 'handshake', fileId: c.fileId, phase: 'body', size: 25 },
      { action: 'chunk', fileId: undefined, phase: 'headers', size: calls[2]?.size },
      { action: 'chunk', fileId: c.fileId, phase: 'body', size: 25 },
      { action: 'status', fileId: c.fileId, phase: 'headers', size: undefined },
      { action: 'download-upload', fileId: c.fileId, phase: 'headers', size: undefined },
      { action: 'list', fileId: undefined, phase: 'headers', size: undefined },
      { action: 'delete', fileId: c.fileId, phase: 'headers', size: undefined },
    ]);
    // Before the first decision no principal; after it, the one the hook named.
    assert.equal(principals[0], undefined);
    assert.equal(principals[1], 'alice');
  });

  it('false is a 403 FORBIDDEN, before the body is read', async () => {
    const c = cut(Buffer.from('mallory was here'));
    const a = await handshake(
      running.url,
      { fileId: c.fileId, ext: '.txt', chunkIds: c.chunkIds },
      { 'x-user': 'mallory' },
    );
    assert.equal(a.status, 403);
    assert.equal(a.body.error, 'FORBIDDEN');
    assert.equal(
      (
        await fetch(`${running.url}/api/upload/${c.fileId}`, {
          method: 'DELETE',
          headers: { 'x-user': 'mallory' },
        })
      ).status,
      403,
    );
  });

  it("sees an MD5 twin's link (/upload/<md5>-<sha16><ext>) as its MD5, as a token names it", async () => {
    calls.length = 0;
    const md5 = 'a'.repeat(32);
    await fetch(`${running.url}/upload/${md5}-${'b'.repeat(16)}.bin`, { headers: { 'x-user': 'alice' } });
    assert.deepEqual(calls, [{ action: 'download-upload', fileId: md5, phase: 'headers', size: undefined }]);
  });
});

describe('secrets never reach the logs or error messages', () => {
  it('the request log redacts token parameters and never logs Authorization', async () => {
    const lines: string[] = [];
    const sink = new Writable({
      write(chunk: Buffer, _enc, done) {
        lines.push(chunk.toString());
        done();
      },
    });
    const dir = await tempDir();
    const running = await startServer(
      { port: 0, dataDir: dir, libraryDirs: [dir], auth: 'token', authTokens: ['logged-token-0123456789'] },
      { logger: pino({ level: 'info' }, sink) },
    );
    try {
      await fetch(`${running.url}/?token=page-secret-123#x`);
      await fetch(`${running.url}/api/files?access_token=query-secret-456`, {
        headers: bearer('logged-token-0123456789'),
      });
      await new Promise((r) => setTimeout(r, 50));
      const log = lines.join('');
      assert.match(log, /"request"/);
      assert.ok(!log.includes('page-secret-123'));
      assert.ok(!log.includes('query-secret-456'));
      assert.ok(!log.includes('logged-token-0123456789'));
    } finally {
      await running.close();
      await rm(dir, { recursive: true, force: true });
    }
  });

  it('a password in a URL is redacted in the error message', async () => {
    const dir = await tempDir();
    const srv = await startTestServer({});
    try {
      const url = new URL(`${srv.url}/download/missing.bin`);
      url.username = 'user';
      url.password = 'hunter2secret';
      const err = await rejects(download(url.href, { destination: `${dir}/`, retries: 0 }), 'BAD_RESPONSE');
      assert.ok(!err.message.includes('hunter2secret'), err.message);
      assert.match(err.message, /user:\*\*\*@/);
    } finally {
      await srv.close();
      await rm(dir, { recursive: true, force: true });
    }
  });
});

describe('the CLI', {
  skip: !existsSync('dist/cli/main.js') && 'run npx tsc -p tsconfig.build.json first',
}, () => {
  let srv: TestServer;
  let dir: string;
  before(async () => {
    dir = await tempDir();
    srv = await startTestServer({ auth: 'signed', authSecret: SECRET });
  });
  after(async () => {
    await srv.close();
    await rm(dir, { recursive: true, force: true });
  });

  // Asynchronous: the server answers from this same process.
  const cli = (args: string[], env: Record<string, string> = {}) =>
    new Promise<{ status: number | null; stdout: string; stderr: string }>((resolve) => {
      execFile(
        process.execPath,
        ['dist/cli/main.js', ...args],
        { encoding: 'utf8', env: { ...process.env, RESUMABLE_TOKEN: '', ...env }, timeout: 60_000 },
        (err, stdout, stderr) =>
          resolve({ status: err ? (typeof err.code === 'number' ? err.code : null) : 0, stdout, stderr }),
      );
    });

  it('token sign issues a token the server accepts; upload exits 3 without one and 4 with one for another file', async () => {
    const path = join(dir, 'f.bin');
    const data = randomBytesSeeded(5000, 44);
    await writeFile(path, data);
    const secretFile = join(dir, 'secret');
    await writeFile(secretFile, `${SECRET}\n`);
    const signed = await cli([
      'token',
      'sign',
      '--secret-file',
      secretFile,
      '--expires',
      '10m',
      '--max-size',
      '1MiB',
      '--subject',
      'bob',
    ]);
    assert.equal(signed.status, 0, signed.stderr);
    const token = signed.stdout.trim();
    assert.match(token, /^[\w-]+\.[\w-]+$/);

    const none = await cli(['upload', '-q', '-s', srv.url, path], { XDG_CACHE_HOME: dir });
    assert.equal(none.status, 3, none.stderr);
    assert.match(none.stderr, /UNAUTHORIZED/);

    const forOther = (
      await cli(['token', 'sign', '--secret-file', secretFile, '--file-id', md5('other')])
    ).stdout.trim();
    const other = await cli(['upload', '-q', '-s', srv.url, '--token', forOther, path], {
      XDG_CACHE_HOME: dir,
    });
    assert.equal(other.status, 4, other.stderr);
    assert.ok(!other.stderr.includes(forOther));

    const ok = await cli(['upload', '-q', '-s', srv.url, path], {
      XDG_CACHE_HOME: dir,
      RESUMABLE_TOKEN: token,
    });
    assert.equal(ok.status, 0, ok.stderr);
    const url = ok.stdout.trim();
    const got = await cli([
      'download',
      '-q',
      '-o',
      join(dir, 'out.bin'),
      '-H',
      `Authorization: Bearer ${token}`,
      url,
    ]);
    assert.equal(got.status, 0, got.stderr);
    const denied = await cli(['download', '-q', '-o', join(dir, 'out2.bin'), url]);
    assert.equal(denied.status, 3, denied.stderr);
  });
});
