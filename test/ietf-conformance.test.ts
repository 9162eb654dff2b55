/**
 * IETF resumable uploads (draft-ietf-httpbis-resumable-upload), one test per requirement, for
 * each interop version the server speaks (3, 5, 6 and 8), against the real server on port 0, on
 * local disk and on S3: creation (complete, or incomplete with the 104 that carries the upload
 * URL), offset retrieval, append, the error cases (problem details), cancellation, Upload-Limit
 * and version negotiation.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { md5, randomBytesSeeded } from './helpers/bytes.js';
import { backends, exchange, send } from './helpers/resumable.js';
import type { TestServer } from './helpers/server.js';

type Version = 3 | 5 | 6 | 8;

/** The request headers of version v saying whether this body completes the upload. */
function complete(v: Version, done: boolean): Record<string, string> {
  const h: Record<string, string> = { 'Upload-Draft-Interop-Version': String(v) };
  if (v === 3) h['Upload-Incomplete'] = done ? '?0' : '?1';
  else h['Upload-Complete'] = done ? '?1' : '?0';
  return h;
}

/** Whether an answer of version v says the upload is complete. */
function saysComplete(v: Version, get: (name: string) => string | null | undefined): boolean | undefined {
  const value = v === 3 ? get('upload-incomplete') : get('upload-complete');
  if (value === '?1') return v !== 3;
  if (value === '?0') return v === 3;
  return undefined;
}

function appendHeaders(v: Version, offset: number, done: boolean): Record<string, string> {
  const h = { ...complete(v, done), 'Upload-Offset': String(offset) };
  return v >= 6 ? { ...h, 'Content-Type': 'application/partial-upload' } : h;
}

for (const backend of backends()) {
  describe(`IETF resumable uploads on ${backend.name}`, { skip: backend.skip, timeout: 120_000 }, () => {
    let s: TestServer;
    before(async () => {
      s = await backend.start({ maxFileSize: 10 * 1024 * 1024 });
    });
    after(() => s?.close());

    for (const v of [3, 5, 6, 8] as const) {
      describe(`interop version ${v}`, () => {
        it('creation with the whole body: one request, a complete upload, the file published', async () => {
          const data = randomBytesSeeded(10_000, v);
          const a = await exchange(`${s.url}/files/`, 'POST', complete(v, true), data);
          assert.ok(a.status >= 200 && a.status < 300, String(a.status));
          assert.equal(
            saysComplete(v, (n) => a.headers[n] as string),
            true,
          );
          const got = await fetch(`${s.url}/upload/${md5(data)}`);
          assert.ok(Buffer.from(await got.arrayBuffer()).equals(data));
        });

        it('creation, incomplete: 104 Upload Resumption Supported with Location first, then 201 with Location', async () => {
          const a = await exchange(`${s.url}/files/`, 'POST', complete(v, false), Buffer.from('abc'));
          const info = a.informational.find((i) => i.status === 104);
          assert.ok(info, 'a 104 came first');
          assert.match(String(info.headers.location), /\/files\/[A-Za-z0-9_-]{24}$/);
          assert.equal(info.headers['upload-draft-interop-version'], String(v));
          assert.equal(a.status, 201);
          assert.equal(a.headers.location, info.headers.location);
          assert.equal(a.headers['upload-offset'], '3');
          assert.equal(
            saysComplete(v, (n) => a.headers[n] as string),
            false,
          );
        });

        it('offset retrieval: HEAD answers 204 with Upload-Offset, the completeness, Cache-Control: no-store', async () => {
          const a = await exchange(`${s.url}/files/`, 'POST', complete(v, false), Buffer.from('hello'));
          const h = await send(String(a.headers.location), 'HEAD', {
            'Upload-Draft-Interop-Version': String(v),
          });
          assert.equal(h.status, 204);
          assert.equal(h.headers.get('upload-offset'), '5');
          assert.equal(
            saysComplete(v, (n) => h.headers.get(n)),
            false,
          );
          assert.equal(h.headers.get('cache-control'), 'no-store');
        });

        it('append: PATCH at the offset, then the last one completes the upload and publishes it', async () => {
          const data = randomBytesSeeded(30_000, 20 + v);
          const a = await exchange(`${s.url}/files/`, 'POST', complete(v, false), data.subarray(0, 10_000));
          const url = String(a.headers.location);
          const b = await send(url, 'PATCH', appendHeaders(v, 10_000, false), data.subarray(10_000, 20_000));
          assert.equal(b.status, 204);
          assert.equal(b.headers.get('upload-offset'), '20000');
          const c = await send(url, 'PATCH', appendHeaders(v, 20_000, true), data.subarray(20_000));
          assert.ok(c.status === 200 || c.status === 204, String(c.status));
          assert.equal(
            saysComplete(v, (n) => c.headers.get(n)),
            true,
          );
          const got = await fetch(`${s.url}/upload/${md5(data)}`);
          assert.ok(Buffer.from(await got.arrayBuffer()).equals(data));
        });

        it('append at the wrong offset: 409 (problem details with the expected offset); nothing appended', async () => {
          const a = await exchange(`${s.url}/files/`, 'POST', complete(v, false), Buffer.from('abcd'));
          const url = String(a.headers.location);
          const b = await send(url, 'PATCH', appendHeaders(v, 2, false), 'zz');
          assert.equal(b.status, 409);
          assert.equal(b.headers.get('upload-offset'), '4');
          assert.match(b.headers.get('content-type') ?? '', /application\/problem\+json/);
          const problem = JSON.parse(b.text) as Record<string, unknown>;
          assert.equal(
            problem.type,
            'https://iana.org/assignments/http-problem-types#mismatching-upload-offset',
          );
          assert.equal(problem['expected-offset'], 4);
          assert.equal(problem['provided-offset'], 2);
          const h = await send(url, 'HEAD', { 'Upload-Draft-Interop-Version': String(v) });
          assert.equal(h.headers.get('upload-offset'), '4');
        });

        it('append to a completed upload: 400 completed-upload', async () => {
          const a = await exchange(`${s.url}/files/`, 'POST', complete(v, true), Buffer.from(`done ${v}`));
          const b = await send(String(a.headers.location), 'PATCH', appendHeaders(v, 6, false), 'more');
          assert.equal(b.status, 400);
          assert.equal(
            (JSON.parse(b.text) as { type: string }).type,
            'https://iana.org/assignments/http-problem-types#completed-upload',
          );
        });

        it('an inconsistent length (Upload-Length against the completing body) is 400 inconsistent-upload-length', async () => {
          const a = await exchange(
            `${s.url}/files/`,
            'POST',
            { ...complete(v, false), 'Upload-Length': '10' },
            Buffer.from('abc'),
          );
          const url = String(a.headers.location);
          const b = await send(url, 'PATCH', appendHeaders(v, 3, true), 'de');
          assert.equal(b.status, 400);
          assert.equal(
            (JSON.parse(b.text) as { type: string }).type,
            'https://iana.org/assignments/http-problem-types#inconsistent-upload-length',
          );
          const h = await send(url, 'HEAD', { 'Upload-Draft-Interop-Version': String(v) });
          assert.equal(h.headers.get('upload-offset'), '3');
        });

        it('cancellation: DELETE answers 204; the upload is then 404', async () => {
          const a = await exchange(`${s.url}/files/`, 'POST', complete(v, false), Buffer.from('abc'));
          const url = String(a.headers.location);
          assert.equal(
            (await send(url, 'DELETE', { 'Upload-Draft-Interop-Version': String(v) })).status,
            204,
          );
          assert.equal((await send(url, 'HEAD', { 'Upload-Draft-Interop-Version': String(v) })).status, 404);
        });

        if (v === 8) {
          it('version 8: an append not sent as application/partial-upload is 415', async () => {
            const a = await exchange(`${s.url}/files/`, 'POST', complete(v, false), Buffer.from('abc'));
            const b = await send(
              String(a.headers.location),
              'PATCH',
              { ...complete(v, false), 'Upload-Offset': '3', 'Content-Type': 'application/octet-stream' },
              'de',
            );
            assert.equal(b.status, 415);
          });

          it('version 8: Upload-Limit (max-size) on OPTIONS, the 104 and HEAD', async () => {
            const o = await send(`${s.url}/files/`, 'OPTIONS', { 'Upload-Draft-Interop-Version': '8' });
            assert.match(o.headers.get('upload-limit') ?? '', /max-size=10485760/);
            const a = await exchange(`${s.url}/files/`, 'POST', complete(v, false), Buffer.from('abc'));
            assert.match(String(a.informational[0]?.headers['upload-limit']), /max-size=10485760/);
            const h = await send(String(a.headers.location), 'HEAD', { 'Upload-Draft-Interop-Version': '8' });
            assert.match(h.headers.get('upload-limit') ?? '', /max-size=10485760, expires=\d+/);
          });

          it('version 8: a creation larger than max-size is 413', async () => {
            const a = await send(`${s.url}/files/`, 'POST', {
              ...complete(v, false),
              'Upload-Length': String(10 * 1024 * 1024 + 1),
            });
            assert.equal(a.status, 413);
          });
        }
      });
    }

    it('version negotiation: interop versions the server does not speak (4, 7, 9, garbage) are 412', async () => {
      for (const version of ['4', '7', '9', 'x']) {
        const a = await send(
          `${s.url}/files/`,
          'POST',
          { 'Upload-Draft-Interop-Version': version, 'Upload-Complete': '?1' },
          'a',
        );
        assert.equal(a.status, 412, version);
        assert.match(a.headers.get('content-type') ?? '', /problem\+json/);
      }
    });

    it('versions 5, 6, 8 need Upload-Complete (400 without); version 3 takes its absence as complete', async () => {
      for (const v of ['5', '6', '8']) {
        const a = await send(`${s.url}/files/`, 'POST', { 'Upload-Draft-Interop-Version': v }, 'a');
        assert.equal(a.status, 400, v);
      }
      const three = await send(`${s.url}/files/`, 'POST', { 'Upload-Draft-Interop-Version': '3' }, 'three');
      assert.equal(three.status, 201);
      assert.equal(three.headers.get('upload-incomplete'), '?0');
    });

    it('one upload, two protocols: begun with IETF, resumed with tus', async () => {
      const data = randomBytesSeeded(8000, 31);
      const a = await exchange(
        `${s.url}/files/`,
        'POST',
        { ...complete(8, false), 'Upload-Length': '8000' },
        data.subarray(0, 3000),
      );
      const url = String(a.headers.location);
      const h = await send(url, 'HEAD', { 'Tus-Resumable': '1.0.0' });
      assert.equal(h.headers.get('upload-offset'), '3000');
      assert.equal(h.headers.get('upload-length'), '8000');
      const b = await send(
        url,
        'PATCH',
        {
          'Tus-Resumable': '1.0.0',
          'Content-Type': 'application/offset+octet-stream',
          'Upload-Offset': '3000',
        },
        data.subarray(3000),
      );
      assert.equal(b.status, 204);
      assert.ok((await fetch(`${s.url}/upload/${md5(data)}`)).ok);
    });
  });
}
