/**
 * What a server accepts, learnt before the chunk size is chosen: GET /api/version answers
 * `limits: {maxChunkSize, maxChunks}` and the `extensions` it offers (PROTOCOL.md §Server limits). A server without it (the
 * course's) is planned for as before; its handshake refuses a chunk size it cannot take.
 */
import { TransferError } from '../../protocol/errors.js';
import { withRetry } from './backoff.js';
import { callApi } from './http.js';
import type { RetryOptions } from './types.js';

const MiB = 1024 * 1024;
/** The largest preferred chunk size taken from a server (our server's largest chunk by default). */
const MAX_PREFERRED = 64 * MiB;

export interface ServerLimits {
  /** Largest chunk the server takes, in bytes. */
  maxChunkSize?: number;
  /** Most chunks in one file's plan. */
  maxChunks?: number;
  /** The chunk size its storage takes best (S3: a multipart part); a floor for the default. */
  preferredChunkSize?: number;
  /** The protocol extensions it offers (PROTOCOL.md §Server limits), e.g. 'deferred-upload'. */
  extensions?: string[];
  /** The chunk checksums it takes (PROTOCOL.md §Chunk checksums), e.g. 'xxh64'. */
  chunkChecksums?: string[];
}

function positive(value: unknown): number | undefined {
  return typeof value === 'number' && Number.isSafeInteger(value) && value > 0 ? value : undefined;
}

/**
 * The server's limits, or {} when it does not say (a 404, an answer that is not ours). Failures
 * another attempt can fix are retried like any request (the first request of an upload: a server
 * that is down is noticed before the file is hashed) and, when they persist, reject.
 */
export async function serverLimits(
  fetchImpl: typeof fetch,
  base: string,
  retry: RetryOptions & { signal?: AbortSignal | undefined },
): Promise<ServerLimits> {
  try {
    const answer = await withRetry(
      () =>
        callApi<{ limits?: Record<string, unknown>; extensions?: unknown; chunkChecksums?: unknown } | null>(
          fetchImpl,
          `${base}/api/version`,
          { method: 'GET' },
          retry.signal,
        ),
      retry,
    );
    const limits = answer.data?.limits ?? {};
    const out: ServerLimits = {};
    const maxChunkSize = positive(limits.maxChunkSize);
    const maxChunks = positive(limits.maxChunks);
    if (maxChunkSize !== undefined) out.maxChunkSize = maxChunkSize;
    if (maxChunks !== undefined) out.maxChunks = maxChunks;
    // A floor the server may raise our chunks to: never past what it takes itself, nor past what
    // this client holds in memory per chunk in flight (any server may say anything).
    const preferred = positive(limits.preferredChunkSize);
    if (preferred !== undefined && preferred <= MAX_PREFERRED && preferred <= (maxChunkSize ?? preferred))
      out.preferredChunkSize = preferred;
    const extensions = answer.data?.extensions;
    if (Array.isArray(extensions)) out.extensions = extensions.filter((e) => typeof e === 'string');
    const checksums = answer.data?.chunkChecksums;
    if (Array.isArray(checksums)) out.chunkChecksums = checksums.filter((e) => typeof e === 'string');
    return out;
  } catch (err: unknown) {
    if (!(err instanceof TransferError) || err.code === 'ABORTED') throw err;
    if (err.code === 'RETRIES_EXHAUSTED' || err.retryable || err.code === 'UNAUTHORIZED') throw err;
    return {};
  }
}

/**
 * The chunk size to plan with when the caller chose none: the default for the file's size, raised
 * to the server's preferred size (S3's part size: a smaller chunk costs it a copy of its bytes).
 */
export function defaultFor(fileDefault: number, limits: ServerLimits): number {
  return Math.max(fileDefault, limits.preferredChunkSize ?? 0);
}

/**
 * The chunk size to plan with: `wanted`, or, when the server takes less, the largest whole MiB
 * it takes (the limit itself below 1 MiB).
 */
export function fitChunkSize(wanted: number, limits: ServerLimits): number {
  const max = limits.maxChunkSize;
  if (max === undefined || wanted <= max) return wanted;
  return max >= MiB ? Math.floor(max / MiB) * MiB : max;
}
