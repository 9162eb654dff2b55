/**
 * tus answers: every response carries Tus-Resumable; errors are plain text with the spec's
 * status (the stable code first, so a client log names it), and an unread body is drained.
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import { requestLang, toTransferError } from '../../http/respond.js';
import type { StreamRecord } from '../../storage/stream-store.js';
import { beginError, endError, httpDate } from './request.js';

export const TUS_VERSION = '1.0.0';
export const TUS_EXTENSIONS = [
  'creation',
  'creation-with-upload',
  'creation-defer-length',
  'termination',
  'checksum',
  'expiration',
  'concatenation',
].join(',');
export const TUS_CHECKSUMS = 'md5,sha1,sha256';

/** Ends a response with no body. */
export function endEmpty(res: ServerResponse, status: number): void {
  res.statusCode = status;
  if (status !== 204 && status !== 304) res.setHeader('Content-Length', '0');
  res.end();
}

/** The headers that say where an upload is (HEAD, and after creation and appends). */
export function progressHeaders(res: ServerResponse, record: StreamRecord): void {
  res.setHeader('Upload-Offset', String(record.offset));
  if (record.done === null && record.concat?.kind !== 'final') {
    res.setHeader('Upload-Expires', httpDate(record.expiresAt));
  }
}

/** The error answer; the TransferError, for the caller to log unexpected ones. */
export function sendTusError(req: IncomingMessage, res: ServerResponse, err: unknown) {
  const te = toTransferError(err);
  if (!beginError(req, res, te)) return te;
  res.setHeader('Tus-Resumable', TUS_VERSION);
  if (te.code === 'UNSUPPORTED_VERSION') res.setHeader('Tus-Version', TUS_VERSION);
  endError(req, res, 'text/plain; charset=utf-8', `${te.code}: ${te.localized(requestLang(req))}\n`);
  return te;
}
