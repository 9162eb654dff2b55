/** Writing envelopes and errors; choosing the message language. */
import type { IncomingMessage, ServerResponse } from 'node:http';
import Negotiator from 'negotiator';
import { type ErrorEnvelope, fail, type OkEnvelope } from '../protocol/envelope.js';
import { type Lang, TransferError } from '../protocol/errors.js';

/** Chinese unless the request's Accept-Language prefers English. */
export function requestLang(req: IncomingMessage): Lang {
  if (!req.headers['accept-language']) return 'zh';
  const best = new Negotiator(req).language(['zh', 'en']);
  return best === 'en' ? 'en' : 'zh';
}

export function sendJson(
  res: ServerResponse,
  status: number,
  body: OkEnvelope<unknown> | ErrorEnvelope,
): void {
  if (res.headersSent) {
    res.destroy();
    return;
  }
  const text = JSON.stringify(body);
  res.statusCode = status;
  res.setHeader('Content-Type', 'application/json; charset=utf-8');
  res.setHeader('Content-Length', Buffer.byteLength(text));
  res.setHeader('Cache-Control', 'no-store');
  res.end(text);
}

export function toTransferError(err: unknown): TransferError {
  if (err instanceof TransferError) return err;
  return new TransferError('INTERNAL', undefined, { cause: err });
}

/** Sends the error envelope; returns the TransferError so callers can log unexpected ones. */
export function sendError(req: IncomingMessage, res: ServerResponse, err: unknown): TransferError {
  const te = toTransferError(err);
  if (te.code === 'METHOD_NOT_ALLOWED') res.setHeader('Allow', 'GET, HEAD, POST, DELETE, OPTIONS');
  // Busy or unavailable answers say when to come back (the error table's retryAfter).
  if (te.retryAfter !== undefined && !res.headersSent) res.setHeader('Retry-After', String(te.retryAfter));
  sendJson(res, te.status, fail(te, requestLang(req)));
  return te;
}
