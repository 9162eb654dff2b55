/**
 * Whether a failed transfer may succeed if the user tries again: only when the failure was the
 * network's or the server's for the moment (a connection lost, a timeout, 408, 429, 5xx), or the
 * client's own retries ran out on such a failure. A refusal (400, 401, 403, 404, 413 such as
 * FILE_TOO_LARGE or CHUNK_TOO_LARGE, 415, 422 …) gives the same answer every time, so the row
 * offers no Retry for it; nor for an error that is not the protocol's (a file the browser can no
 * longer read, say).
 */
import { TransferError } from '../../src/protocol/errors.js';

export function canRetry(err: unknown): boolean {
  if (!(err instanceof TransferError)) return false;
  // The client gives up with RETRIES_EXHAUSTED only after retryable failures (its status is the
  // last one's): the server may be back by the time the user clicks.
  return err.retryable || err.code === 'RETRIES_EXHAUSTED';
}
