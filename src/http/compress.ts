/**
 * JSON answers compressed when the client accepts it (gzip or br) and the answer is worth it
 * (above COMPRESS_ABOVE bytes). Compression runs on libuv's thread pool (async zlib), never on
 * the event loop. For the JSON routes only: the byte and range routes are never compressed
 * (PROTOCOL.md §Downloads), their lengths and offsets are those of the file.
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import { promisify } from 'node:util';
import { brotliCompress, constants, gzip } from 'node:zlib';
import Negotiator from 'negotiator';
import type { ErrorEnvelope, OkEnvelope } from '../protocol/envelope.js';
import { sendJson } from './respond.js';

export const COMPRESS_ABOVE = 1024;

const brotli = promisify(brotliCompress);
const gzipAsync = promisify(gzip);

type Encoding = 'br' | 'gzip';

function acceptedEncoding(req: IncomingMessage): Encoding | undefined {
  if (!req.headers['accept-encoding']) return undefined;
  const accepted = new Negotiator(req).encodings(['br', 'gzip']);
  if (accepted.includes('br')) return 'br';
  return accepted.includes('gzip') ? 'gzip' : undefined;
}

function compress(text: Buffer, encoding: Encoding): Promise<Buffer> {
  // Brotli at quality 5: about gzip's speed, smaller; its default (11) is far too slow for answers.
  return encoding === 'br'
    ? brotli(text, {
        params: { [constants.BROTLI_PARAM_QUALITY]: 5, [constants.BROTLI_PARAM_SIZE_HINT]: text.length },
      })
    : gzipAsync(text);
}

function addVary(res: ServerResponse, field: string): void {
  const current = res.getHeader('Vary');
  const list = (Array.isArray(current) ? current.join(',') : String(current ?? ''))
    .split(',')
    .map((s) => s.trim())
    .filter(Boolean);
  if (list.includes('*') || list.some((v) => v.toLowerCase() === field.toLowerCase())) return;
  res.setHeader('Vary', [...list, field].join(', '));
}

/** sendJson, compressed when the request accepts it and the answer is above COMPRESS_ABOVE. */
export async function sendJsonCompressed(
  req: IncomingMessage,
  res: ServerResponse,
  status: number,
  body: OkEnvelope<unknown> | ErrorEnvelope,
): Promise<void> {
  if (res.headersSent) {
    res.destroy();
    return;
  }
  // The answer depends on Accept-Encoding, even when this one is small and sent as is.
  addVary(res, 'Accept-Encoding');
  const encoding = acceptedEncoding(req);
  if (!encoding) {
    sendJson(res, status, body);
    return;
  }
  const text = Buffer.from(JSON.stringify(body), 'utf8');
  if (text.length <= COMPRESS_ABOVE) {
    sendJson(res, status, body);
    return;
  }
  const packed = await compress(text, encoding);
  if (res.headersSent || res.destroyed) return;
  res.statusCode = status;
  res.setHeader('Content-Type', 'application/json; charset=utf-8');
  res.setHeader('Content-Encoding', encoding);
  res.setHeader('Content-Length', packed.length);
  res.setHeader('Cache-Control', 'no-store');
  res.end(packed);
}
