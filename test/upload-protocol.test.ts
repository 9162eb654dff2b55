/** Every row of PROTOCOL.md's upload rules, against the real server on port 0. */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { getJson, handshake, sendChunk, sendRawChunk } from './helpers/api.js';
import { cut, md5, randomBytesSeeded } from './helpers/bytes.js';
import { startTestServer, type TestServer } from './helpers/server.js';

let srv: TestServer;
before(async () => {
  srv = await startTestServer({ maxChunkSize: 2 * 1024 * 1024 });
});
after(() => srv.close());

async function uploadAll(data: Buffer, chunkSize = 256 * 1024, ext = '.bin') {
  const c = cut(data, chunkSize);
  const hs = await handshake(srv.url, { fileId: c.fileId, ext, chunkIds: c.chunkIds });
  assert.equal(hs.status, 200);
  let last = hs;
  for (let i = 0; i < c.chunks.length; i++) {
    last = await sendChunk(srv.url, { fileId: c.fileId, chunkId: c.chunkIds[i]!, file: c.chunks[i]! });
    assert.equal(last.status, 200, JSON.stringify(last.body));
  }
  return { c, last };
}

describe('envelope and the seed error table', () => {
  const cases: [string, Record<string, unknown>, string, string][] = [
    ['fileId missing', { ext: '.jpg', chunkIds: ['a'] }, 'MISSING_FILE_ID', '请携带文件编号'],
    ['ext missing', { fileId: 'a'.repeat(32), chunkIds: ['a'] }, 'MISSING_EXT', '请携带文件后缀，例如 .mp4'],
    [
      'chunkIds missing',
      { fileId: 'a'.repeat(32), ext: '.jpg' },
      'MISSING_CHUNK_IDS',
      '请按顺序设置文件的分片编号数组',
    ],
    [
      'chunkIds not an array',
      { fileId: 'a'.repeat(32), ext: '.jpg', chunkIds: 'x' },
      'MISSING_CHUNK_IDS',
      '请按顺序设置文件的分片编号数组',
    ],
    [
      'chunkIds empty',
      { fileId: 'a'.repeat(32), ext: '.jpg', chunkIds: [] },
      'MISSING_CHUNK_IDS',
      '请按顺序设置文件的分片编号数组',
    ],
  ];
  for (const [what, body, error, msg] of cases) {
    it(`handshake: ${what} → 403 ${error}`, async () => {
      const a = await handshake(srv.url, body);
      assert.equal(a.status, 403);
      assert.deepEqual(a.body, { code: 403, msg, data: null, error });
    });
  }

  it('chunk: chunkId missing → 403 MISSING_CHUNK_ID, file missing → 403 MISSING_CHUNK_DATA', async () => {
    const a = await sendChunk(srv.url, { fileId: 'a'.repeat(32), file: Buffer.from('x') });
    assert.equal(a.status, 403);
    assert.equal(a.body.error, 'MISSING_CHUNK_ID');
    assert.equal(a.body.msg, '请携带分片编号');
    const b = await sendChunk(srv.url, { fileId: 'a'.repeat(32), chunkId: 'b'.repeat(32) });
    assert.equal(b.status, 403);
    assert.equal(b.body.error, 'MISSING_CHUNK_DATA');
    assert.equal(b.body.msg, '请携带分片文件');
    const c = await sendChunk(srv.url, { chunkId: 'b'.repeat(32), file: Buffer.from('x') });
    assert.equal(c.body.error, 'MISSING_FILE_ID');
  });

  it('English when Accept-Language prefers it, Chinese otherwise', async () => {
    const en = await handshake(srv.url, { ext: '.jpg' }, { 'accept-language': 'en-GB,en;q=0.9,zh;q=0.5' });
    assert.equal(en.body.msg, 'Send the file id (fileId).');
    const zh = await handshake(srv.url, { ext: '.jpg' }, { 'accept-language': 'zh-CN,zh;q=0.9,en;q=0.8' });
    assert.equal(zh.body.msg, '请携带文件编号');
  });
});

describe('identifiers', () => {
  const good = { fileId: 'A'.repeat(32), ext: '.jpg', chunkIds: ['b'.repeat(32)] };
  const bad: [string, Record<string, unknown>, string][] = [
    ['short fileId', { ...good, fileId: 'abc' }, 'INVALID_FILE_ID'],
    ['non-hex fileId', { ...good, fileId: 'g'.repeat(32) }, 'INVALID_FILE_ID'],
    ['fileId as a number', { ...good, fileId: 12345 }, 'INVALID_FILE_ID'],
    ['ext with slash', { ...good, ext: './x' }, 'INVALID_EXT'],
    ['ext with inner dot', { ...good, ext: '.tar.gz' }, 'INVALID_EXT'],
    ['ext too long', { ...good, ext: `.${'a'.repeat(17)}` }, 'INVALID_EXT'],
    ['chunk id not hex', { ...good, chunkIds: ['z'.repeat(32)] }, 'INVALID_CHUNK_ID'],
    ['chunk id with 11 digits', { ...good, chunkIds: [`${'b'.repeat(32)}12345678901`] }, 'INVALID_CHUNK_ID'],
    ['chunk id object', { ...good, chunkIds: [{}] }, 'INVALID_CHUNK_ID'],
  ];
  for (const [what, body, error] of bad) {
    it(`${what} → 400 ${error}`, async () => {
      const a = await handshake(srv.url, body);
      assert.equal(a.status, 400);
      assert.equal(a.body.code, 400);
      assert.equal(a.body.error, error);
      assert.equal(a.body.data, null);
    });
  }

  it('fileId is case-insensitive; ext without a dot is accepted and echoed with it', async () => {
    const data = randomBytesSeeded(1000, 77);
    const c = cut(data);
    const a = await handshake(srv.url, { fileId: c.fileId.toUpperCase(), ext: 'txt', chunkIds: c.chunkIds });
    assert.deepEqual(a.body.data, c.chunkIds);
    const b = await sendChunk(srv.url, {
      fileId: c.fileId.toUpperCase(),
      chunkId: c.chunkIds[0]!.toUpperCase(),
      file: c.chunks[0]!,
    });
    assert.equal(b.body.url, `${srv.url}/upload/${c.fileId}.txt`);
  });
});

describe('handshake', () => {
  it('answers the needed ids in order, each once, and accepts urlencoded and multipart bodies', async () => {
    const c = cut(randomBytesSeeded(600_000, 3), 100_000);
    const ids = [...c.chunkIds, c.chunkIds[0]!];
    const json = await handshake(srv.url, { fileId: c.fileId, ext: '.bin', chunkIds: ids });
    assert.deepEqual(json.body, { code: 0, msg: '', data: c.chunkIds });

    const form = new URLSearchParams({ fileId: c.fileId, ext: '.bin', chunkIds: JSON.stringify(c.chunkIds) });
    const url = await getJson(`${srv.url}/api/upload/handshake`, { method: 'POST', body: form });
    assert.deepEqual(url.body.data, c.chunkIds);

    const repeated = new URLSearchParams({ fileId: c.fileId, ext: '.bin' });
    for (const id of c.chunkIds) repeated.append('chunkIds', id);
    assert.deepEqual(
      (await getJson(`${srv.url}/api/upload/handshake`, { method: 'POST', body: repeated })).body.data,
      c.chunkIds,
    );

    const fd = new FormData();
    fd.append('fileId', c.fileId);
    fd.append('ext', '.bin');
    for (const id of c.chunkIds) fd.append('chunkIds', id);
    assert.deepEqual(
      (await getJson(`${srv.url}/api/upload/handshake`, { method: 'POST', body: fd })).body.data,
      c.chunkIds,
    );
  });

  it('the sha256 extension field counts in a form handshake as in JSON (checked, and keys the upload)', async () => {
    const c = cut(randomBytesSeeded(1000, 8), 100_000);
    const bad = new URLSearchParams({ fileId: c.fileId, ext: '.bin', chunkIds: JSON.stringify(c.chunkIds) });
    bad.set('sha256', 'not-a-digest');
    const refused = await getJson(`${srv.url}/api/upload/handshake`, { method: 'POST', body: bad });
    assert.equal(refused.body.error, 'INVALID_FIELD');
    const fd = new FormData();
    fd.append('fileId', c.fileId);
    fd.append('ext', '.bin');
    fd.append('chunkIds', JSON.stringify(c.chunkIds));
    fd.append('sha256', 'c'.repeat(64));
    await getJson(`${srv.url}/api/upload/handshake`, { method: 'POST', body: fd });
    const keyed = await getJson(`${srv.url}/api/upload/${c.fileId}?sha256=${'c'.repeat(64)}`);
    assert.equal(keyed.status, 200, 'the plan is under the SHA-keyed upload');
    assert.equal((await getJson(`${srv.url}/api/upload/${c.fileId}`)).status, 404);
  });

  it('resumes: chunks held from an earlier attempt are not asked again', async () => {
    const c = cut(randomBytesSeeded(500_000, 4), 100_000);
    await handshake(srv.url, { fileId: c.fileId, ext: '.bin', chunkIds: c.chunkIds });
    await sendChunk(srv.url, { fileId: c.fileId, chunkId: c.chunkIds[1]!, file: c.chunks[1]! });
    await sendChunk(srv.url, { fileId: c.fileId, chunkId: c.chunkIds[3]!, file: c.chunks[3]! });
    const again = await handshake(srv.url, { fileId: c.fileId, ext: '.bin', chunkIds: c.chunkIds });
    assert.deepEqual(again.body.data, [c.chunkIds[0], c.chunkIds[2], c.chunkIds[4]]);
  });

  it('a re-handshake with another chunk list replaces the plan and keeps matching chunks', async () => {
    const data = randomBytesSeeded(400_000, 5);
    const big = cut(data, 200_000);
    const small = cut(data, 100_000);
    await handshake(srv.url, { fileId: big.fileId, ext: '.bin', chunkIds: big.chunkIds });
    await sendChunk(srv.url, { fileId: big.fileId, chunkId: big.chunkIds[0]!, file: big.chunks[0]! });
    // Another plan whose ids are the old ones without their index digits, plus new ones.
    const mixed = [big.chunkIds[0]!.slice(0, 32), ...small.chunkIds.slice(2)];
    const a = await handshake(srv.url, { fileId: big.fileId, ext: '.bin', chunkIds: mixed });
    assert.deepEqual(a.body.data, small.chunkIds.slice(2), 'the held chunk counts under its new id');
    // An id of the old plan is no longer accepted.
    const stale = await sendChunk(srv.url, {
      fileId: big.fileId,
      chunkId: big.chunkIds[1]!,
      file: big.chunks[1]!,
    });
    assert.equal(stale.status, 409);
    assert.equal(stale.body.error, 'CHUNK_NOT_IN_PLAN');
    for (const [i, id] of small.chunkIds.slice(2).entries()) {
      const r = await sendChunk(srv.url, { fileId: big.fileId, chunkId: id, file: small.chunks[i + 2]! });
      assert.equal(r.status, 200);
    }
    const res = await fetch(`${srv.url}/upload/${big.fileId}.bin`);
    assert.equal(md5(Buffer.from(await res.arrayBuffer())), big.fileId);
  });

  it('instant upload (秒传) once the file exists, also under another ext', async () => {
    const { c } = await uploadAll(randomBytesSeeded(300_000, 6), 100_000, '.png');
    const a = await handshake(srv.url, { fileId: c.fileId, ext: '.png', chunkIds: c.chunkIds });
    assert.deepEqual(a.body, { code: 0, msg: '秒传成功', data: `${srv.url}/upload/${c.fileId}.png` });
    const b = await handshake(srv.url, { fileId: c.fileId, ext: 'jpeg', chunkIds: ['f'.repeat(32)] });
    assert.equal(b.body.data, `${srv.url}/upload/${c.fileId}.jpeg`);
    const res = await fetch(b.body.data as string);
    // Served as what was uploaded (issue 16), not as the extension the link asks for.
    assert.equal(res.headers.get('content-type'), 'image/png');
    assert.equal(md5(Buffer.from(await res.arrayBuffer())), c.fileId);
  });

  it('--public-url decides the links handed out', async () => {
    const other = await startTestServer({ publicUrl: 'https://files.example.com/' });
    try {
      const c = cut(Buffer.from('hello public url'));
      await handshake(other.url, { fileId: c.fileId, ext: '.txt', chunkIds: c.chunkIds });
      const r = await sendChunk(other.url, { fileId: c.fileId, chunkId: c.chunkIds[0]!, file: c.chunks[0]! });
      assert.equal(r.body.url, `https://files.example.com/upload/${c.fileId}.txt`);
    } finally {
      await other.close();
    }
  });
});

describe('chunk upload', () => {
  it('accepts the multipart fields in any order, and the raw-body extension', async () => {
    const c = cut(randomBytesSeeded(400_000, 7), 100_000);
    await handshake(srv.url, { fileId: c.fileId, ext: '.bin', chunkIds: c.chunkIds });
    const orders: ('file' | 'chunkId' | 'fileId')[][] = [
      ['file', 'chunkId', 'fileId'],
      ['fileId', 'chunkId', 'file'],
      ['chunkId', 'file', 'fileId'],
    ];
    for (const [i, order] of orders.entries()) {
      const r = await sendChunk(
        srv.url,
        { fileId: c.fileId, chunkId: c.chunkIds[i]!, file: c.chunks[i]! },
        order,
      );
      assert.equal(r.status, 200);
      assert.deepEqual(r.body.data, c.chunkIds.slice(i + 1));
    }
    const raw = await sendRawChunk(srv.url, c.fileId, c.chunkIds[3]!, c.chunks[3]!);
    assert.equal(raw.status, 200);
    assert.deepEqual(raw.body.data, []);
    assert.equal(raw.body.url, `${srv.url}/upload/${c.fileId}.bin`);
  });

  it('the last chunk answers data: [] and url only once the file is published and verified', async () => {
    const data = randomBytesSeeded(3 * 256 * 1024 + 17, 8);
    const { c, last } = await uploadAll(data);
    assert.deepEqual(last.body.data, []);
    assert.equal(last.body.code, 0);
    assert.equal(last.body.url, `${srv.url}/upload/${c.fileId}.bin`);
    const res = await fetch(last.body.url!);
    assert.equal(res.status, 200);
    assert.equal(res.headers.get('x-content-type-options'), 'nosniff');
    assert.equal(res.headers.get('content-security-policy'), 'sandbox');
    assert.equal(res.headers.get('etag'), `"${c.fileId}"`);
    assert.equal(md5(Buffer.from(await res.arrayBuffer())), c.fileId);
  });

  it('unknown fileId → 404, chunk not in the plan → 409, wrong bytes → 422, held → 200', async () => {
    const c = cut(randomBytesSeeded(300_000, 9), 100_000);
    const unknown = await sendChunk(srv.url, {
      fileId: c.fileId,
      chunkId: c.chunkIds[0]!,
      file: c.chunks[0]!,
    });
    assert.equal(unknown.status, 404);
    assert.equal(unknown.body.error, 'UPLOAD_NOT_FOUND');
    await handshake(srv.url, { fileId: c.fileId, ext: '.bin', chunkIds: c.chunkIds });
    const notInPlan = await sendChunk(srv.url, {
      fileId: c.fileId,
      chunkId: md5('other'),
      file: Buffer.from('other'),
    });
    assert.equal(notInPlan.status, 409);
    const mismatch = await sendChunk(srv.url, {
      fileId: c.fileId,
      chunkId: c.chunkIds[0]!,
      file: c.chunks[1]!,
    });
    assert.equal(mismatch.status, 422);
    assert.equal(mismatch.body.error, 'CHUNK_MD5_MISMATCH');
    const state = await getJson(`${srv.url}/api/upload/${c.fileId}`);
    assert.deepEqual((state.body.data as { held: string[] }).held, [], 'nothing stored by the bad chunk');
    const first = await sendChunk(srv.url, { fileId: c.fileId, chunkId: c.chunkIds[0]!, file: c.chunks[0]! });
    const again = await sendChunk(srv.url, { fileId: c.fileId, chunkId: c.chunkIds[0]!, file: c.chunks[0]! });
    assert.equal(again.status, 200);
    assert.deepEqual(again.body.data, first.body.data);
  });

  it('a chunk over the server limit or the declared chunkSize → 413, nothing stored', async () => {
    const big = randomBytesSeeded(2 * 1024 * 1024 + 1, 10);
    const c = cut(big, big.length);
    await handshake(srv.url, { fileId: c.fileId, ext: '.bin', chunkIds: c.chunkIds });
    const r = await sendChunk(srv.url, { fileId: c.fileId, chunkId: c.chunkIds[0]!, file: c.chunks[0]! }, [
      'fileId',
      'chunkId',
      'file',
    ]);
    assert.equal(r.status, 413);
    assert.equal(r.body.error, 'CHUNK_TOO_LARGE');

    const data = randomBytesSeeded(3000, 11);
    const d = cut(data, 1000);
    // Declares 500-byte chunks but the ids are of 1000-byte chunks.
    const hs = await handshake(srv.url, {
      fileId: d.fileId,
      ext: '.bin',
      chunkIds: d.chunkIds,
      chunkSize: 500,
      size: 1500,
    });
    assert.equal(hs.status, 200);
    const over = await sendChunk(srv.url, { fileId: d.fileId, chunkId: d.chunkIds[0]!, file: d.chunks[0]! });
    assert.equal(over.status, 413);
    const st = await getJson(`${srv.url}/api/upload/${d.fileId}`);
    assert.equal((st.body.data as { bytesHeld: number }).bytesHeld, 0);
  });

  it('a forged fileId (chunks verify, the whole does not) → 422 and nothing is published', async () => {
    const c = cut(randomBytesSeeded(200_000, 12), 100_000);
    const forged = md5('something else entirely');
    await handshake(srv.url, { fileId: forged, ext: '.bin', chunkIds: c.chunkIds });
    await sendChunk(srv.url, { fileId: forged, chunkId: c.chunkIds[0]!, file: c.chunks[0]! });
    const last = await sendChunk(srv.url, { fileId: forged, chunkId: c.chunkIds[1]!, file: c.chunks[1]! });
    assert.equal(last.status, 422);
    assert.equal(last.body.error, 'FILE_MD5_MISMATCH');
    assert.equal((await fetch(`${srv.url}/upload/${forged}.bin`)).status, 404);
    const again = await handshake(srv.url, { fileId: forged, ext: '.bin', chunkIds: c.chunkIds });
    assert.ok(Array.isArray(again.body.data), 'no instant upload of the wrong bytes');
  });
});

describe('extensions: upload state and abandon', () => {
  it('GET /api/upload/<fileId> reports held and needed; DELETE abandons', async () => {
    const c = cut(randomBytesSeeded(300_000, 13), 100_000);
    const none = await getJson(`${srv.url}/api/upload/${c.fileId}`);
    assert.equal(none.status, 404);
    await handshake(srv.url, { fileId: c.fileId, ext: '.bin', chunkIds: c.chunkIds });
    await sendChunk(srv.url, { fileId: c.fileId, chunkId: c.chunkIds[1]!, file: c.chunks[1]! });
    const st = await getJson(`${srv.url}/api/upload/${c.fileId}`);
    assert.equal(st.status, 200);
    const data = st.body.data as { held: string[]; needed: string[]; bytesHeld: number; status: string };
    assert.equal(data.status, 'uploading');
    assert.deepEqual(data.held, [c.chunkIds[1]]);
    assert.deepEqual(data.needed, [c.chunkIds[0], c.chunkIds[2]]);
    assert.equal(data.bytesHeld, 100_000);
    const del = await getJson(`${srv.url}/api/upload/${c.fileId}`, { method: 'DELETE' });
    assert.equal(del.status, 200);
    assert.equal((await getJson(`${srv.url}/api/upload/${c.fileId}`)).status, 404);
    const gone = await sendChunk(srv.url, { fileId: c.fileId, chunkId: c.chunkIds[0]!, file: c.chunks[0]! });
    assert.equal(gone.status, 404);
    assert.equal((await getJson(`${srv.url}/api/upload/${c.fileId}`, { method: 'DELETE' })).status, 404);
  });
});

describe('CORS', () => {
  it('answers preflights and exposes the range headers', async () => {
    const pre = await fetch(`${srv.url}/api/upload`, {
      method: 'OPTIONS',
      headers: {
        origin: 'http://course.example',
        'access-control-request-method': 'POST',
        'access-control-request-headers': 'content-type',
      },
    });
    assert.equal(pre.status, 204);
    assert.equal(pre.headers.get('access-control-allow-origin'), '*');
    assert.match(pre.headers.get('access-control-allow-methods') ?? '', /POST/);
    assert.match(pre.headers.get('access-control-allow-headers') ?? '', /content-type/);
    const get = await fetch(`${srv.url}/api/files`, { headers: { origin: 'http://course.example' } });
    assert.equal(get.headers.get('access-control-allow-origin'), '*');
    for (const h of ['Content-Range', 'Content-Length', 'Content-Disposition', 'ETag', 'Accept-Ranges']) {
      assert.match(get.headers.get('access-control-expose-headers') ?? '', new RegExp(h));
    }
  });

  it('a configured origin list echoes allowed origins only', async () => {
    const other = await startTestServer({ corsOrigin: 'http://a.example, http://b.example' });
    try {
      const ok = await fetch(`${other.url}/api/files`, { headers: { origin: 'http://b.example' } });
      assert.equal(ok.headers.get('access-control-allow-origin'), 'http://b.example');
      const no = await fetch(`${other.url}/api/files`, { headers: { origin: 'http://evil.example' } });
      assert.equal(no.headers.get('access-control-allow-origin'), null);
    } finally {
      await other.close();
    }
  });
});
