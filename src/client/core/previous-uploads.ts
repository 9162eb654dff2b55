/**
 * findPreviousUploads(): what the hash cache knows of a file, with what the server holds of it
 * (GET /api/upload/<fileId>?limit=0: the counts only), so an app can offer "resume" before it
 * calls upload() again. As tus-js-client's, it lists what a new upload() with these options
 * continues: the hashes cached for this file at the chunk size upload() would plan with.
 */
import { TransferError } from '../../protocol/errors.js';
import type { UploadState } from '../../protocol/types.js';
import { withRetry } from './backoff.js';
import { callApi } from './http.js';
import type { ByteSource, HashCache } from './ports.js';
import { uploadStateUrl } from './terminate.js';
import type { FindPreviousOptions, PreviousUpload } from './types.js';
import { hashCacheKey, planChunkSize, usableHashes } from './upload.js';

export async function findPrevious(
  source: ByteSource,
  options: FindPreviousOptions & { fetch: typeof fetch },
  hashCache: HashCache | undefined,
): Promise<PreviousUpload[]> {
  const chunkSize = await planChunkSize(source.size, options);
  const key = hashCacheKey(source, chunkSize);
  const hashes = usableHashes(key ? await hashCache?.get(key) : undefined, source, chunkSize);
  if (!hashes) return [];
  const { fileId, sha256 } = hashes;
  const found: PreviousUpload = {
    fileId,
    sha256,
    chunkSize,
    size: source.size,
    status: 'absent',
    bytesHeld: 0,
    chunksNeeded: hashes.chunkIds.length,
    chunksTotal: hashes.chunkIds.length,
    url: null,
  };
  const url = `${uploadStateUrl(options.server, { fileId, sha256 })}${sha256 ? '&' : '?'}limit=0`;
  try {
    const { data } = await withRetry(
      () => callApi<UploadState>(options.fetch, url, { method: 'GET' }, options.signal),
      options,
    );
    found.status = data.status === 'complete' ? 'complete' : 'uploading';
    found.bytesHeld = data.status === 'complete' ? source.size : data.bytesHeld;
    found.chunksNeeded = data.status === 'complete' ? 0 : data.totals.needed;
    found.url = data.url;
  } catch (err: unknown) {
    // No session for this client (never opened, expired, abandoned): upload() starts it over.
    if (!(err instanceof TransferError && err.code === 'UPLOAD_NOT_FOUND')) throw err;
  }
  return [found];
}
