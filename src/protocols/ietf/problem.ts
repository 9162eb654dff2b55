/**
 * IETF resumable-upload errors as problem details (RFC 9457, application/problem+json), with the
 * draft's problem types where it defines one (mismatching offset, completed upload, inconsistent
 * length) and the offset headers the older interop versions read instead.
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import { requestLang, toTransferError } from '../../http/respond.js';
import type { TransferError } from '../../protocol/errors.js';
import { beginError, endError } from '../tus/request.js';

const TYPES = 'https://iana.org/assignments/http-problem-types#';

const PROBLEM_TYPES: Partial<Record<TransferError['code'], string>> = {
  OFFSET_MISMATCH: `${TYPES}mismatching-upload-offset`,
  UPLOAD_COMPLETED: `${TYPES}completed-upload`,
  LENGTH_MISMATCH: `${TYPES}inconsistent-upload-length`,
};

export interface ProblemExtras {
  /** The upload's offset, when the error is about it (409). */
  expectedOffset?: number | undefined;
  providedOffset?: number | undefined;
  /** Version-specific headers to add (Upload-Draft-Interop-Version...). */
  headers?: Record<string, string>;
}

export function sendProblem(
  req: IncomingMessage,
  res: ServerResponse,
  err: unknown,
  extras: ProblemExtras = {},
): TransferError {
  const te = toTransferError(err);
  if (!beginError(req, res, te)) return te;
  for (const [k, v] of Object.entries(extras.headers ?? {})) res.setHeader(k, v);
  if (extras.expectedOffset !== undefined) res.setHeader('Upload-Offset', String(extras.expectedOffset));
  const body: Record<string, unknown> = {
    type: PROBLEM_TYPES[te.code] ?? 'about:blank',
    title: te.localized(requestLang(req)),
    status: te.status,
    code: te.code,
  };
  if (te.code === 'OFFSET_MISMATCH') {
    body['expected-offset'] = extras.expectedOffset;
    body['provided-offset'] = extras.providedOffset;
  }
  endError(req, res, 'application/problem+json', JSON.stringify(body));
  return te;
}
