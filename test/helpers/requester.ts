/**
 * HTTP from a chosen loopback source address (127.0.0.2, 127.0.0.3, …): to the server, each is
 * another client, so another requester with its own upload sessions.
 */
import assert from 'node:assert/strict';
import { request } from 'node:http';
import type { Answer } from './api.js';
import { cut } from './bytes.js';

export interface Requester {
  readonly address: string;
  call(
    method: string,
    url: string,
    body?: unknown,
    headers?: Record<string, string>,
  ): Promise<Answer & { raw: Buffer }>;
  handshake(base: string, body: unknown): Promise<Answer>;
  /** A raw chunk (application/octet-stream, ids in the query string, with `sha256` if given). */
  chunk(base: string, fileId: string, chunkId: string, data: Uint8Array, sha256?: string): Promise<Answer>;
}

export function from(address: string): Requester {
  const call: Requester['call'] = (method, url, body, headers = {}) =>
    new Promise((resolve, reject) => {
      const payload =
        body === undefined
          ? undefined
          : body instanceof Uint8Array
            ? Buffer.from(body)
            : JSON.stringify(body);
      const req = request(
        url,
        {
          method,
          localAddress: address,
          headers: {
            ...(payload === undefined
              ? {}
              : {
                  'content-type':
                    body instanceof Uint8Array ? 'application/octet-stream' : 'application/json',
                  'content-length': Buffer.byteLength(payload),
                }),
            ...headers,
          },
        },
        (res) => {
          const parts: Buffer[] = [];
          res.on('data', (b: Buffer) => parts.push(b));
          res.on('end', () => {
            const raw = Buffer.concat(parts);
            let parsed: Answer['body'] = { code: -1, msg: '', data: null };
            try {
              parsed = JSON.parse(raw.toString('utf8'));
            } catch {}
            const h = new Headers();
            for (const [k, v] of Object.entries(res.headers)) if (typeof v === 'string') h.set(k, v);
            resolve({ status: res.statusCode ?? 0, body: parsed, headers: h, raw });
          });
          res.on('error', reject);
        },
      );
      req.on('error', reject);
      req.end(payload);
    });
  return {
    address,
    call,
    handshake: (base, body) => call('POST', `${base}/api/upload/handshake`, body),
    chunk: (base, fileId, chunkId, data, sha256) =>
      call(
        'POST',
        `${base}/api/upload?fileId=${fileId}&chunkId=${chunkId}${sha256 ? `&sha256=${sha256}` : ''}`,
        data,
      ),
  };
}

/**
 * Uploads as an MD5-only client does (the course's: no SHA-256, the needed chunks one at a time,
 * raw bodies here); resolves with the last answer (the handshake's when it gave a link).
 */
export async function md5OnlyUpload(
  who: Requester,
  base: string,
  data: Buffer,
  ext: string,
  chunkSize = 64 * 1024,
) {
  const c = cut(data, chunkSize);
  const hs = await who.handshake(base, { fileId: c.fileId, ext, chunkIds: c.chunkIds });
  assert.equal(hs.body.code, 0, JSON.stringify(hs.body));
  let last = hs;
  const needed = hs.body.data;
  if (!Array.isArray(needed)) return last;
  for (const id of needed as string[]) {
    last = await who.chunk(base, c.fileId, id, c.chunks[c.chunkIds.indexOf(id)]!);
    assert.equal(last.body.code, 0, JSON.stringify(last.body));
  }
  return last;
}
