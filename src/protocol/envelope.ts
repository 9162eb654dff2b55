/** The JSON envelope of every /api/* answer (PROTOCOL.md §Envelope). */
import { type ErrorCode, isErrorCode, type Lang, TransferError } from './errors.js';
import type { ProofChallenge } from './types.js';

export interface OkEnvelope<T> {
  code: 0;
  msg: string;
  data: T;
  /** Set on the chunk answer that completed a file: the published file's URL. */
  url?: string;
  /**
   * On chunk answers: how many ids are still needed in all (`data` may list only the first of
   * them, or none with `Prefer: return=minimal`: PROTOCOL.md §Bounds).
   */
  remaining?: number;
  /** On a handshake answer under instantUpload 'proof': the file is published, prove you hold it. */
  challenge?: ProofChallenge;
}

export interface ErrorEnvelope {
  code: number;
  msg: string;
  data: null;
  error: ErrorCode;
}

export type Envelope<T> = OkEnvelope<T> | ErrorEnvelope;

export function ok<T>(
  data: T,
  msg = '',
  extra?: { url?: string; remaining?: number; challenge?: ProofChallenge | undefined },
): OkEnvelope<T> {
  return { code: 0, msg, data, ...extra };
}

export function fail(err: TransferError, lang: Lang): ErrorEnvelope {
  return { code: err.status, msg: err.localized(lang), data: null, error: err.code };
}

/** Turns a decoded body into a TransferError when it is an error envelope. */
export function errorFromEnvelope(body: unknown, httpStatus: number): TransferError | undefined {
  if (typeof body !== 'object' || body === null) return undefined;
  const b = body as Record<string, unknown>;
  if (b.code === 0) return undefined;
  const code = isErrorCode(b.error) ? b.error : httpStatus >= 500 ? 'INTERNAL' : 'BAD_RESPONSE';
  const msg = typeof b.msg === 'string' ? b.msg : undefined;
  const status = typeof b.code === 'number' ? b.code : httpStatus;
  return new TransferError(code, msg, { status });
}
