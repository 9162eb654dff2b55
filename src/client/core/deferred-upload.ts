/**
 * The client's side of a deferred upload (PROTOCOL.md §Deferred upload), for a server whose
 * /api/version lists 'deferred-upload': the handshake declares the layout without the fileId, each
 * chunk is sent as soon as the hasher has its MD5 while the whole file's MD5 and SHA-256 are still
 * being folded, and the commit names them. upload.ts runs it; these are its requests and the queue
 * that hands chunks from the hasher to the connections.
 */
import { TransferError } from '../../protocol/errors.js';
import { withRetry } from './backoff.js';
import { callApi } from './http.js';
import type { FileHashes } from './ports.js';
import type { RetryOptions } from './types.js';

/** The name /api/version gives the extension. */
export const DEFERRED_UPLOAD = 'deferred-upload';

export interface DeferredCall {
  fetch: typeof fetch;
  base: string;
  retry: RetryOptions & { signal?: AbortSignal | undefined };
}

function post<T>(call: DeferredCall, path: string, body: unknown) {
  const init = {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify(body),
  };
  return withRetry(() => callApi<T>(call.fetch, `${call.base}${path}`, init, call.retry.signal), call.retry);
}

/**
 * What a deferred handshake declares; to continue an upload (the hashes are known by then), its
 * uploadId and the chunk ids too, and the answer lists the ids still needed.
 */
export interface DeferredLayout {
  ext: string;
  size: number;
  chunkSize: number;
  name: string;
  uploadId?: string | undefined;
  chunkIds?: string[];
  /** The chunk checksum asked for (PROTOCOL.md §Chunk checksums); the answer says if it is taken. */
  checksum?: string | undefined;
}

/**
 * Opens the deferred upload (or continues the one named): its provisional id, or undefined when the server will not take this
 * one (a refusal such as a cap, or access scoped to one fileId): the ordinary upload is tried.
 * Missing credentials and failures that persist reject, as they would for the ordinary one.
 */
export async function openDeferredUpload(
  call: DeferredCall,
  layout: DeferredLayout,
): Promise<{ uploadId: string; needed: unknown; checksum: unknown } | undefined> {
  try {
    const answer = await post<unknown>(call, '/api/upload/deferred', layout);
    const uploadId = (answer as { uploadId?: unknown }).uploadId;
    if (typeof uploadId !== 'string' || !/^[0-9a-f]{32}$/.test(uploadId)) {
      throw new TransferError('BAD_RESPONSE', 'The deferred handshake answered no upload id.');
    }
    return { uploadId, needed: answer.data, checksum: (answer as { checksum?: unknown }).checksum };
  } catch (err: unknown) {
    if (err instanceof TransferError && isRefusal(err)) return undefined;
    throw err;
  }
}

/** A 4xx the ordinary upload may not meet (not missing credentials, not an abort). */
function isRefusal(err: TransferError): boolean {
  return err.code !== 'UNAUTHORIZED' && err.status >= 400 && err.status < 500 && !err.retryable;
}

/**
 * Commits the upload under the file's hashes: the link, or undefined when the server no longer
 * has all of it (it expired, or a chunk is missing): the ordinary upload then sends what it needs.
 * A wrong fileId (the file changed while it was read) rejects with FILE_MD5_MISMATCH.
 */
export async function commitDeferredUpload(
  call: DeferredCall,
  uploadId: string,
  { fileId, sha256, chunkIds }: FileHashes,
): Promise<string | undefined> {
  try {
    const answer = await post<unknown>(call, '/api/upload/commit', { uploadId, fileId, sha256, chunkIds });
    if (typeof answer.data !== 'string')
      throw new TransferError('BAD_RESPONSE', 'The commit answered no link.');
    return answer.data;
  } catch (err: unknown) {
    if (err instanceof TransferError && (err.code === 'UPLOAD_NOT_FOUND' || err.code === 'CHUNKS_MISSING'))
      return undefined;
    throw err;
  }
}

/**
 * Chunk indexes from the hasher to the connections, in the order their ids became known; `next`
 * waits for one, resolves undefined once the hasher ended and all were taken, and rejects with the
 * hasher's failure.
 */
export class ChunkFeed {
  private readonly ready: number[] = [];
  private ended = false;
  private failure: unknown;
  private waiting: (() => void)[] = [];

  push(index: number): void {
    this.ready.push(index);
    this.wake();
  }

  end(): void {
    this.ended = true;
    this.wake();
  }

  fail(err: unknown): void {
    this.failure = err ?? new Error('hashing failed');
    this.wake();
  }

  async next(): Promise<number | undefined> {
    for (;;) {
      if (this.failure !== undefined) throw this.failure;
      const index = this.ready.shift();
      if (index !== undefined) return index;
      if (this.ended) return undefined;
      await new Promise<void>((resolve) => this.waiting.push(resolve));
    }
  }

  private wake(): void {
    const waiting = this.waiting;
    this.waiting = [];
    for (const resolve of waiting) resolve();
  }
}
