/**
 * Answers proportional to their request (PROTOCOL.md §Bounds): a chunk answer lists at most one
 * needed id per `bytesPerId` bytes that chunk carried (at least one, the next to send), or none
 * at all when the client asks for the minimal answer (`Prefer: return=minimal`, RFC 7240); the
 * state report is read a page at a time.
 */
import type { IncomingMessage } from 'node:http';
import { TransferError } from '../../protocol/errors.js';
import { STATE_PAGE_LIMIT, type StatePage } from '../../protocol/types.js';

export interface SeedLimits {
  /** The cap on a whole handshake body, in bytes. */
  maxHandshakeBytes: number;
  /** A chunk answer lists at most max(1, ⌊chunk bytes / chunkAnswerBytesPerId⌋) needed ids. */
  chunkAnswerBytesPerId: number;
  /** The default and largest `limit` of a state page. */
  statePageLimit: number;
}

export const DEFAULT_CHUNK_ANSWER_BYTES_PER_ID = 2048;

/** Whether the request's Prefer header holds `return=minimal` (tokens are case-insensitive). */
export function prefersMinimal(req: IncomingMessage): boolean {
  const prefer = req.headers.prefer;
  if (!prefer) return false;
  const list = Array.isArray(prefer) ? prefer.join(',') : prefer;
  return list.split(',').some((p) => {
    const [pref] = p.split(';');
    return (
      pref
        ?.trim()
        .toLowerCase()
        .replace(/\s*=\s*/, '=') === 'return=minimal'
    );
  });
}

/** How many needed ids a seed chunk answer may list, for a chunk of `bytes` bytes. */
export function chunkAnswerIds(bytes: number, bytesPerId: number): number {
  return Math.max(1, Math.floor(bytes / Math.max(1, bytesPerId)));
}

function pageParam(query: URLSearchParams, name: string, fallback: number): number {
  const raw = query.get(name);
  if (raw === null || raw === '') return fallback;
  if (!/^\d{1,15}$/.test(raw)) {
    throw new TransferError('INVALID_FIELD', `${name} must be a whole number of 15 digits at most.`);
  }
  return Number(raw);
}

/** `?offset=&limit=` of a state request; a limit above the largest is lowered to it (like S3's max-keys). */
export function statePage(query: URLSearchParams, maxLimit = STATE_PAGE_LIMIT): StatePage {
  const offset = pageParam(query, 'offset', 0);
  const limit = Math.min(pageParam(query, 'limit', maxLimit), maxLimit);
  return { offset, limit };
}
