/**
 * findPreviousUploads(): what the hash cache knows of a file, with what the server holds of it
 * (GET /api/upload/<fileId>?limit=0: the counts only), so an app can offer "resume" before it
 * calls upload() again. As tus-js-client's, it lists what a new upload() with these options
 * continues: the hashes cached for this file at the chunk size upload() would plan with.
 */
import { TransferError } from '../../protocol/errors.js';
import type { UploadState } from '../../protocol/types.js';
import { withRetry } from './backoff.js';
import { chunkCount } from './hashing.js';
import { callApi } from './http.js';
import type { ByteSource, HashCache } from './ports.js';
import { uploadStateUrl } from './terminate.js';
import type { FindPreviousOptions, PreviousUpload } from './types.js';
import { checksummedPending, hashCacheKey, planChunkSize, usableHashes } from './upload.js';

export async function findPrevious(
  source: ByteSource,
  options: FindPreviousOptions & { fetch: typeof fetch },
  hashCache: HashCache | undefined,
): Promise<PreviousUpload[]> {
  const chunkSize = await planChunkSize(source.size, options);
  const key = hashCacheKey(source, chunkSize);
  const cached = key ? await hashCache?.get(key) : undefined;
  // Or a deferred upload whose chunks went with a checksum: its chunk ids are the server's.
  const hashes = usableHashes(cached, source, chunkSize) ?? checksummedPending(cached, chunkSize);
  if (!hashes) return [];
  const chunks = chunkCount(source.size, chunkSize);
  const { fileId, sha256 } = hashes;
  const found: PreviousUpload = {
    fileId,
    sha256,
    chunkSize,
    size: source.size,
    status: 'absent',
    bytesHeld: 0,
    chunksNeeded: chunks,
    chunksTotal: chunks,
    url: null,
  };
  // A deferred upload not committed (upload() continues it), else the ordinary one.
  const { uploadId } = hashes;
  const deferred = uploadId
    ? await stateOf(options, `${uploadStateUrl(options.server, { fileId, uploadId })}?limit=0`)
    : undefined;
  if (deferred && uploadId) {
    found.uploadId = uploadId;
    found.status = 'uploading';
    found.bytesHeld = deferred.bytesHeld;
    // Its plan may not list the ids (the server learnt each with its chunk): counted from the bytes.
    found.chunksNeeded =
      deferred.totals.chunkIds > 0
        ? deferred.totals.needed
        : Math.ceil(Math.max(0, source.size - deferred.bytesHeld) / chunkSize);
    return [found];
  }
  const data = await stateOf(
    options,
    `${uploadStateUrl(options.server, { fileId, sha256 })}${sha256 ? '&' : '?'}limit=0`,
  );
  if (data) {
    found.status = data.status === 'complete' ? 'complete' : 'uploading';
    found.bytesHeld = data.status === 'complete' ? source.size : data.bytesHeld;
    found.chunksNeeded = data.status === 'complete' ? 0 : data.totals.needed;
    found.url = data.url;
  }
  return [found];
}

/** The state report, or undefined when the server has no session of it for this client. */
async function stateOf(
  options: FindPreviousOptions & { fetch: typeof fetch },
  url: string,
): Promise<UploadState | undefined> {
  try {
    const { data } = await withRetry(
      () => callApi<UploadState>(options.fetch, url, { method: 'GET' }, options.signal),
      options,
    );
    return data;
  } catch (err: unknown) {
    // No session for this client (never opened, expired, abandoned): upload() starts it over.
    if (!(err instanceof TransferError && err.code === 'UPLOAD_NOT_FOUND')) throw err;
    return undefined;
  }
}
