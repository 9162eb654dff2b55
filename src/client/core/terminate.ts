/**
 * terminate(): deletes an upload's session on the server (DELETE /api/upload/<fileId>, keyed by
 * the SHA-256 our client declares: PROTOCOL.md §Upload state, §Collisions), as tus-js-client's
 * `abort(true)` / `Upload.terminate(url)`. Chunks no other session needs go with it.
 */
import { TransferError } from '../../protocol/errors.js';
import { withRetry } from './backoff.js';
import { callApi } from './http.js';
import type { RetryOptions, TerminateOptions, UploadKey } from './types.js';

/**
 * `/api/upload/<fileId>` with the upload's key (`?sha256=` when it was declared), or
 * `/api/upload/<uploadId>` for a deferred upload.
 */
export function uploadStateUrl(server: string, { fileId, sha256, uploadId }: UploadKey): string {
  const base = server.replace(/\/+$/, '');
  if (uploadId) return `${base}/api/upload/${encodeURIComponent(uploadId)}`;
  return `${base}/api/upload/${encodeURIComponent(fileId)}${sha256 ? `?sha256=${sha256}` : ''}`;
}

/**
 * Resolves true when the server deleted the upload, false when it kept none for this client (no
 * session: none was opened, it expired, or the upload completed; a published file is not deleted). Failures
 * another attempt can fix are retried as any request; others reject with a TransferError.
 */
export async function terminate(
  upload: UploadKey,
  options: TerminateOptions & RetryOptions & { fetch: typeof fetch },
): Promise<boolean> {
  const { signal } = options;
  try {
    await withRetry(
      () =>
        callApi<null>(options.fetch, uploadStateUrl(options.server, upload), { method: 'DELETE' }, signal),
      { ...options, signal },
    );
    return true;
  } catch (err: unknown) {
    if (err instanceof TransferError && err.code === 'UPLOAD_NOT_FOUND') return false;
    throw err;
  }
}
