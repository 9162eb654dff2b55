/**
 * Stream upload ids: the upload URL is the capability (as in tusd), so an id is 144 random bits
 * in base64url, and anything else in its place is simply not found.
 */
import { randomBytes } from 'node:crypto';
import { TransferError } from '../protocol/errors.js';
import { isStreamId } from '../storage/stream-store.js';

export function newStreamId(): string {
  return randomBytes(18).toString('base64url');
}

/** A stream id from a URL (already percent-decoded or not: the alphabet needs no escaping). */
export function parseStreamId(value: string): string {
  if (!isStreamId(value)) throw new TransferError('NOT_FOUND');
  return value;
}
