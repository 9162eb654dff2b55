/**
 * Reads a handshake body in any of the three accepted encodings (JSON, urlencoded, multipart).
 * The body is bounded (a plan of maxChunks ids) and small, so it is read into memory; anything
 * longer is refused with 413 while it streams.
 */
import type { IncomingMessage } from 'node:http';
import busboy from 'busboy';
import type { RawHandshake } from '../../core/handshake.js';
import { TransferError } from '../../protocol/errors.js';

export function handshakeBodyLimit(maxChunks: number): number {
  // 42 hex/decimal characters, quotes and a comma per id, plus room for the other fields.
  return maxChunks * 48 + 64 * 1024;
}

async function readText(req: IncomingMessage, limit: number): Promise<string> {
  const declared = Number(req.headers['content-length'] ?? 0);
  if (declared > limit) throw new TransferError('BODY_TOO_LARGE');
  const parts: Buffer[] = [];
  let size = 0;
  for await (const buf of req) {
    size += (buf as Buffer).length;
    if (size > limit) throw new TransferError('BODY_TOO_LARGE');
    parts.push(buf as Buffer);
  }
  return Buffer.concat(parts).toString('utf8');
}

/** chunkIds from a form: a JSON array string, or the repeated field. */
function chunkIdsFromForm(values: string[]): unknown {
  if (values.length === 1 && values[0]?.trimStart().startsWith('[')) {
    try {
      return JSON.parse(values[0]);
    } catch {
      throw new TransferError('MALFORMED_BODY', 'chunkIds is not a valid JSON array.');
    }
  }
  return values.length > 0 ? values : undefined;
}

function fromForm(get: (key: string) => string | undefined, getAll: (key: string) => string[]): RawHandshake {
  return {
    fileId: get('fileId'),
    ext: get('ext'),
    chunkIds: chunkIdsFromForm([...getAll('chunkIds'), ...getAll('chunkIds[]')]),
    size: get('size'),
    chunkSize: get('chunkSize'),
    name: get('name'),
  };
}

function readMultipart(req: IncomingMessage, limit: number): Promise<RawHandshake> {
  return new Promise((resolve, reject) => {
    const fields = new Map<string, string[]>();
    let bb: busboy.Busboy;
    try {
      bb = busboy({ headers: req.headers, limits: { fieldSize: limit, files: 0, fields: 200_000 } });
    } catch {
      reject(new TransferError('MALFORMED_BODY'));
      return;
    }
    bb.on('field', (name, value) => {
      const list = fields.get(name) ?? [];
      list.push(value);
      fields.set(name, list);
    });
    bb.on('file', (_name, stream) => stream.resume());
    bb.on('error', () => reject(new TransferError('MALFORMED_BODY')));
    bb.on('close', () =>
      resolve(
        fromForm(
          (k) => fields.get(k)?.[0],
          (k) => fields.get(k) ?? [],
        ),
      ),
    );
    req.on('error', () => reject(new TransferError('MALFORMED_BODY')));
    req.pipe(bb);
  });
}

export async function readHandshake(req: IncomingMessage, maxChunks: number): Promise<RawHandshake> {
  const limit = handshakeBodyLimit(maxChunks);
  const type = (req.headers['content-type'] ?? '').toLowerCase();
  if (type.startsWith('multipart/form-data')) return readMultipart(req, limit);
  if (type.startsWith('application/x-www-form-urlencoded')) {
    const params = new URLSearchParams(await readText(req, limit));
    return fromForm(
      (k) => params.get(k) ?? undefined,
      (k) => params.getAll(k),
    );
  }
  if (type === '' || type.startsWith('application/json') || type.startsWith('text/plain')) {
    const text = await readText(req, limit);
    let body: unknown;
    try {
      body = text.trim() === '' ? {} : JSON.parse(text);
    } catch {
      throw new TransferError('MALFORMED_BODY', 'The body is not valid JSON.');
    }
    if (typeof body !== 'object' || body === null || Array.isArray(body)) {
      throw new TransferError('MALFORMED_BODY', 'The body must be a JSON object.');
    }
    return body as RawHandshake;
  }
  throw new TransferError('UNSUPPORTED_MEDIA_TYPE');
}
