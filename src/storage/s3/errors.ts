/** What an S3 failure means for our callers: absent, a protocol error, or a start-up message. */
import { S3ServiceException } from '@aws-sdk/client-s3';
import { TransferError } from '../../protocol/errors.js';

export function notFound(err: unknown): boolean {
  if (!(err instanceof S3ServiceException)) return false;
  return err.$metadata.httpStatusCode === 404 || err.name === 'NoSuchKey' || err.name === 'NotFound';
}

/** Network failures that say the store is unreachable or gone silent, not that a request was wrong. */
const NETWORK_CODES = new Set([
  'ECONNRESET',
  'ECONNREFUSED',
  'EPIPE',
  'ETIMEDOUT',
  'EHOSTUNREACH',
  'ENETUNREACH',
  'ENOTFOUND',
  'EAI_AGAIN',
]);

/** Whether a failure (already retried by the SDK) means the store is down or overloaded. */
export function storeUnavailable(err: unknown, depth = 0): boolean {
  if (err instanceof S3ServiceException) return (err.$metadata.httpStatusCode ?? 0) >= 500;
  if (!(err instanceof Error) || depth > 5) return false;
  if (err.name === 'TimeoutError' || NETWORK_CODES.has((err as NodeJS.ErrnoException).code ?? ''))
    return true;
  return storeUnavailable(err.cause, depth + 1);
}

/**
 * Store failures as protocol errors: a full store is 507; one that is down, silent or overloaded
 * is 503 with Retry-After (the client retries, and so can the next request: nothing is kept
 * from the failure); anything else 500.
 */
export function mapS3Error(err: unknown): unknown {
  if (err instanceof TransferError) return err;
  if (err instanceof S3ServiceException && (err.name === 'QuotaExceeded' || err.name === 'EntityTooLarge')) {
    return new TransferError('INSUFFICIENT_STORAGE', undefined, { cause: err });
  }
  if (storeUnavailable(err)) return new TransferError('STORAGE_UNAVAILABLE', undefined, { cause: err });
  return new TransferError('INTERNAL', `object store: ${(err as Error).message}`, { cause: err });
}

/** One line for an operator when the bucket cannot be used at start. */
export function describeS3Error(err: unknown): string {
  if (err instanceof S3ServiceException) {
    const status = err.$metadata.httpStatusCode;
    if (status === 403) return 'access denied (check the credentials)';
    return `${err.name}${status ? ` (HTTP ${status})` : ''}`;
  }
  const e = err as NodeJS.ErrnoException & { cause?: { code?: string } };
  return e.code ?? e.cause?.code ?? e.message ?? String(err);
}
