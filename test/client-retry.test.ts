/**
 * The library's retry options, as tus-js-client users expect them (issue 20, item 8):
 * `retryDelays`, `onShouldRetry(err, attempt)`, `onRetry`, and a server's Retry-After honoured.
 * A real HTTP server whose answers the test scripts; requests are counted on its side.
 */
import assert from 'node:assert/strict';
import { readFile, rm, writeFile } from 'node:fs/promises';
import { createServer, type Server } from 'node:http';
import { join } from 'node:path';
import { after, before, beforeEach, describe, it } from 'node:test';
import { MAX_RETRY_AFTER } from '../src/client/core/backoff.js';
import type { RetryEvent } from '../src/client/core/types.js';
import { download, upload } from '../src/client/node/index.js';
import { md5, randomBytesSeeded } from './helpers/bytes.js';
import { startTestServer, tempDir } from './helpers/server.js';

const body = randomBytesSeeded(200_000, 71);
let server: Server;
let base: string;
let work: string;
let requests = 0;
/** The status the next requests get instead of the file (then the file). */
let failures: { status: number; headers?: Record<string, string> }[] = [];

before(async () => {
  work = await tempDir('rt-retry-');
  server = createServer((req, res) => {
    requests++;
    const failure = failures.shift();
    if (failure) {
      res.writeHead(failure.status, { 'content-length': 0, ...failure.headers });
      res.end();
      return;
    }
    if (req.url !== '/f.bin') {
      res.writeHead(404, { 'content-length': 0 });
      res.end();
      return;
    }
    res.writeHead(200, { 'content-length': body.length, etag: '"r1"' });
    res.end(req.method === 'HEAD' ? undefined : body);
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  base = `http://127.0.0.1:${(server.address() as { port: number }).port}`;
});
after(async () => {
  server.close();
  await rm(work, { recursive: true, force: true });
});
beforeEach(() => {
  requests = 0;
  failures = [];
});

describe('retry options', () => {
  it('a 503 with Retry-After: 1 waits that long before the retry, and onRetry says so', async () => {
    failures = [{ status: 503, headers: { 'retry-after': '1' } }];
    const events: RetryEvent[] = [];
    const started = Date.now();
    const path = await download(`${base}/f.bin`, {
      destination: join(work, 'a.bin'),
      retryDelays: [0, 0],
      onRetry: (e) => events.push(e),
    });
    assert.equal(md5(await readFile(path)), md5(body));
    assert.equal(events.length, 1);
    assert.equal(events[0]?.attempt, 1);
    assert.equal(events[0]?.retries, 2, 'the length of retryDelays');
    assert.equal(events[0]?.delay, 1000, "the server's Retry-After over the 0 of retryDelays");
    assert.equal(events[0]?.error.status, 503);
    assert.ok(Date.now() - started >= 1000);
  });

  it("a server's Retry-After is followed for at most 5 minutes, whatever it asks", async () => {
    failures = [{ status: 503, headers: { 'retry-after': '86400' } }];
    const stop = new AbortController();
    const events: RetryEvent[] = [];
    await assert.rejects(
      download(`${base}/f.bin`, {
        destination: join(work, 'c.bin'),
        signal: stop.signal,
        onRetry: (e) => {
          events.push(e);
          stop.abort(); // the wait itself is not the test: its length is
        },
      }),
      { code: 'ABORTED' },
    );
    assert.equal(events[0]?.delay, MAX_RETRY_AFTER);
    assert.equal(MAX_RETRY_AFTER, 5 * 60_000);
  });

  it('retryDelays: its length is the number of retries; null never retries', async () => {
    failures = [{ status: 500 }, { status: 500 }, { status: 500 }];
    await assert.rejects(
      download(`${base}/f.bin`, { destination: join(work, 'b.bin'), retryDelays: [10, 10] }),
      {
        code: 'RETRIES_EXHAUSTED',
      },
    );
    assert.equal(requests, 3);
    requests = 0;
    failures = [{ status: 502 }];
    await assert.rejects(download(`${base}/f.bin`, { destination: join(work, 'b.bin'), retryDelays: null }), {
      status: 502,
    });
    assert.equal(requests, 1);
  });

  it('onShouldRetry overrules the judgement both ways', async () => {
    failures = [{ status: 503 }];
    const asked: number[] = [];
    await assert.rejects(
      download(`${base}/f.bin`, {
        destination: join(work, 'c.bin'),
        onShouldRetry: (_err, attempt) => {
          asked.push(attempt);
          return false;
        },
      }),
      { status: 503 },
    );
    assert.deepEqual(asked, [1]);
    assert.equal(requests, 1, 'a 503 the caller says not to retry');
    // A 409 is not retried by default; a caller may say it is worth it (as tus-js-client allows).
    requests = 0;
    failures = [{ status: 409 }];
    const path = await download(`${base}/f.bin`, {
      destination: join(work, 'c.bin'),
      retryDelays: [0],
      onShouldRetry: (err) => err.status === 409 || err.retryable,
    });
    assert.equal(md5(await readFile(path)), md5(body));
    assert.equal(requests, 3, 'the 409, then HEAD and GET');
  });

  it('a 404 is never retried', async () => {
    const events: RetryEvent[] = [];
    await assert.rejects(
      download(`${base}/missing.bin`, { destination: join(work, 'd.bin'), onRetry: (e) => events.push(e) }),
      { status: 404, code: 'BAD_RESPONSE' },
    );
    assert.equal(requests, 1);
    assert.equal(events.length, 0);
  });
});

describe('retry options of uploads', () => {
  it('retryDelays and onRetry reach the upload: a refused handshake is retried after the given delay', async () => {
    const real = await startTestServer();
    try {
      const path = join(work, 'up.bin');
      await writeFile(path, randomBytesSeeded(300_000, 72));
      let refused = 0;
      // The first handshake meets a busy server (as a proxy in front would answer).
      const flaky: typeof fetch = async (input, init) => {
        if (String(input).endsWith('/api/upload/handshake') && refused++ === 0)
          return new Response('', { status: 503 });
        return fetch(input, init);
      };
      const events: RetryEvent[] = [];
      const result = await upload(path, {
        server: real.url,
        fetch: flaky,
        hashCache: false,
        retryDelays: [50],
        onRetry: (e) => events.push(e),
      });
      assert.equal(events.length, 1);
      assert.equal(events[0]?.attempt, 1);
      assert.equal(events[0]?.retries, 1);
      assert.equal(events[0]?.delay, 50);
      assert.equal(events[0]?.error.status, 503);
      assert.equal(refused, 2, 'the handshake was sent again');
      assert.equal(result.fileId, md5(await readFile(path)));
    } finally {
      await real.close();
    }
  });
});
