/**
 * What the tus and IETF adapters read off a request in the same way: single header values,
 * non-negative integers, the body with the lock owner watching it, and the lingering end of a
 * request whose body was not read.
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import { PassThrough } from 'node:stream';
import type { LockOwner } from '../../core/stream-locks.js';
import { lingerOnUnreadBody } from '../../http/linger.js';
import { TransferError } from '../../protocol/errors.js';

export function header(req: IncomingMessage, name: string): string | undefined {
  const v = req.headers[name];
  return Array.isArray(v) ? v[0] : v;
}

/** A header holding a non-negative integer (an offset, a length); undefined when absent. */
export function intHeader(req: IncomingMessage, name: string): number | undefined {
  const v = header(req, name);
  if (v === undefined) return undefined;
  const n = /^\d{1,16}$/.test(v.trim()) ? Number(v.trim()) : Number.NaN;
  if (!Number.isSafeInteger(n))
    throw new TransferError('INVALID_HEADER', `${name} must be a non-negative integer.`);
  return n;
}

/** The body's length when the request says it (not for a chunked body). */
export function contentLength(req: IncomingMessage): number | undefined {
  if (req.headers['transfer-encoding']) return undefined;
  const v = req.headers['content-length'];
  return v === undefined ? undefined : Number(v);
}

/** Whether the request may carry a body at all. */
export function hasBody(req: IncomingMessage): boolean {
  const length = contentLength(req);
  return length === undefined ? req.headers['transfer-encoding'] !== undefined : length > 0;
}

/**
 * The request body and the owner of the lock taken for it (alive while its connection is), and
 * what to call once the body is no longer wanted. Read through a PassThrough, as the seed's raw
 * chunks are: an append refused half way leaves the request intact for its answer (413, 460),
 * and a client that goes ends the body with an error the store takes as a cut.
 */
export function watchedBody(req: IncomingMessage): {
  body: AsyncIterable<Buffer>;
  owner: LockOwner;
  done(): void;
} {
  let last = Date.now();
  const owner: LockOwner = {
    alive: () => !req.destroyed && !req.socket.destroyed,
    idleMs: () => Date.now() - last,
    cancel: () => req.destroy(),
  };
  // The readable side in object mode: each piece as it came off the socket. In byte mode, every
  // read of the body's iterator concatenated what was queued into a new buffer (a copy of every
  // byte, and 1 MiB allocations for the collector: 0.5 s + GC per GiB).
  const pass = new PassThrough({
    writableHighWaterMark: 1024 * 1024,
    readableObjectMode: true,
    readableHighWaterMark: 16,
  });
  pass.on('error', () => undefined);
  req.pipe(pass);
  const onClose = () => {
    if (!req.complete && !pass.destroyed) pass.destroy(new Error('aborted'));
  };
  req.once('close', onClose);
  async function* body(): AsyncIterable<Buffer> {
    for await (const buf of pass) {
      last = Date.now();
      yield buf as Buffer;
    }
  }
  return {
    body: body(),
    owner,
    done: () => {
      req.unpipe(pass);
      req.off('close', onClose);
    },
  };
}

/** The lock owner of a request without a body (DELETE): alive while its connection is. */
export function requestOwner(req: IncomingMessage): LockOwner {
  return { alive: () => !req.socket.destroyed, idleMs: () => 0, cancel: () => req.destroy() };
}

/** Before an answer that leaves the body unread: read and drop it, boundedly (linger.ts). */
export function dropUnreadBody(req: IncomingMessage, res: ServerResponse): void {
  if (!req.complete && hasBody(req)) lingerOnUnreadBody(req, res);
}

/** The header's value as an HTTP date (RFC 9110). */
export function httpDate(ms: number): string {
  return new Date(ms).toUTCString();
}

/**
 * Starts an error answer: false (the connection cut) when the answer had begun already; else the
 * unread body is drained and the status, Cache-Control and Retry-After are set.
 */
export function beginError(req: IncomingMessage, res: ServerResponse, te: TransferError): boolean {
  if (res.headersSent) {
    res.destroy();
    return false;
  }
  dropUnreadBody(req, res);
  res.statusCode = te.status;
  res.setHeader('Cache-Control', 'no-store');
  if (te.retryAfter !== undefined) res.setHeader('Retry-After', String(te.retryAfter));
  return true;
}

/** Ends an error answer with its body (none for HEAD). */
export function endError(req: IncomingMessage, res: ServerResponse, type: string, text: string): void {
  if (req.method === 'HEAD') {
    res.setHeader('Content-Length', '0');
    res.end();
    return;
  }
  res.setHeader('Content-Type', type);
  res.setHeader('Content-Length', Buffer.byteLength(text));
  res.end(text);
}
