/**
 * The browser build of the client (package export `resumable-transfer/client`, condition
 * `browser`): Files and Blobs in, hashing in Web Workers with hash-wasm, hashes remembered in
 * IndexedDB, downloads written into the Origin Private File System by a worker (in memory where
 * there is no OPFS). Same API type as the Node build (ResumableClient).
 *
 * The workers are separate modules next to this one (hash-worker.js, download-worker.js), found
 * with `new URL('./…', import.meta.url)`, the pattern bundlers (Vite, webpack, esbuild with
 * separate entry points) understand; pass `workerUrl` options to place them elsewhere.
 */
import { TransferError } from '../../protocol/errors.js';
import { abortError } from '../core/backoff.js';
import { downloadTo } from '../core/download.js';
import { withCredentials } from '../core/http.js';
import type { ByteSource, HashCache } from '../core/ports.js';
import { findPrevious } from '../core/previous-uploads.js';
import { terminate as terminateUpload } from '../core/terminate.js';
import type {
  DownloadOptions,
  FindPreviousOptions,
  PreviousUpload,
  ResumableClient,
  TerminateOptions,
  UploadKey,
  UploadOptions,
  UploadResult,
} from '../core/types.js';
import { uploadSource } from '../core/upload.js';
import { blobSource } from './blob-source.js';
import type { DownloadJob, DownloadReport } from './download-messages.js';
import { IdbHashCache } from './idb-hash-cache.js';
import { MemoryTarget } from './memory-target.js';
import { keyOf, opfsAvailable, removeStoredDownload, storedFile } from './opfs-store.js';
import { wasmSha256 } from './wasm-md5.js';
import { workerHasher } from './worker-hasher.js';

export { TransferError } from '../../protocol/errors.js';
export { bytesDone } from '../core/download-state.js';
export type { ByteSource, HashCache } from '../core/ports.js';
export type * from '../core/types.js';
export { defaultChunkSize } from '../core/upload.js';
export { blobSource } from './blob-source.js';
export { clearHashCache, IdbHashCache } from './idb-hash-cache.js';
export {
  listStoredDownloads,
  opfsAvailable,
  removeStoredDownload,
  type StoredDownload,
  storedFile,
} from './opfs-store.js';

export interface BrowserUploadOptions extends UploadOptions {
  /** Where hashes of unchanged Files are remembered; false: never. Default: IndexedDB. */
  hashCache?: HashCache | false;
  /** Where hash-worker.js is served (default: next to this module). */
  hashWorkerUrl?: string | URL;
}

export interface BrowserDownloadOptions extends DownloadOptions {
  /** 'opfs' keeps the bytes on disk and survives reloads; 'memory' for small files. Default: opfs where available. */
  storage?: 'auto' | 'opfs' | 'memory';
  /** Largest download held in memory (default 512 MiB). */
  maxMemoryBytes?: number;
  /** Where download-worker.js is served (default: next to this module). */
  downloadWorkerUrl?: string | URL;
}

export interface BrowserDownload {
  name: string;
  size: number;
  /** Where the bytes are: in OPFS (remove() them once saved) or in memory. */
  storage: 'opfs' | 'memory';
  /** OPFS key (for removeStoredDownload), null in memory. */
  key: string | null;
  file(): Promise<File>;
  /** Frees the stored copy. */
  remove(): Promise<void>;
}

export interface BrowserFindPreviousOptions extends FindPreviousOptions {
  /** The hash cache upload() is given (default: IndexedDB; false: none, so nothing is found). */
  hashCache?: HashCache | false;
}

function transport(options: { fetch?: typeof fetch | undefined } & Parameters<typeof withCredentials>[1]) {
  return withCredentials(options.fetch ?? globalThis.fetch.bind(globalThis), options);
}

/**
 * Uploads a File or Blob and resolves with its URL. Call again after any interruption to resume.
 * Progress moves a chunk at a time: a browser's fetch cannot tell how much of a body was sent.
 */
export function upload(source: Blob | ByteSource, options: BrowserUploadOptions): Promise<UploadResult> {
  const src = source instanceof Blob ? blobSource(source) : source;
  const hashCache = options.hashCache === false ? undefined : (options.hashCache ?? new IdbHashCache());
  const fetch = transport(options);
  return uploadSource(
    src,
    { ...options, fetch },
    { hasher: workerHasher(options.hashWorkerUrl), hashCache, createSha256: wasmSha256 },
  );
}

/** The uploads of this File the hash cache knows, with what the server holds of each. */
export function findPreviousUploads(
  source: Blob | ByteSource,
  options: BrowserFindPreviousOptions,
): Promise<PreviousUpload[]> {
  const src = source instanceof Blob ? blobSource(source) : source;
  const hashCache = options.hashCache === false ? undefined : (options.hashCache ?? new IdbHashCache());
  return findPrevious(src, { ...options, fetch: transport(options) }, hashCache);
}

/** Deletes an upload on the server; true when deleted, false when it kept none for this client. */
export function terminate(upload: UploadKey, options: TerminateOptions): Promise<boolean> {
  return terminateUpload(upload, { ...options, fetch: transport(options) });
}

/**
 * Downloads a URL with parallel ranges. With OPFS the bytes go to disk through a worker and a
 * later call for the same URL (after a reload, say) continues from what is stored. The worker
 * sends `headers`; the hooks (`onBeforeRequest`, `onAfterResponse`) are functions, which cannot
 * cross into it: they apply with `storage: 'memory'`.
 */
export async function download(url: string, options: BrowserDownloadOptions = {}): Promise<BrowserDownload> {
  const storage = options.storage ?? 'auto';
  const useOpfs = storage === 'opfs' || (storage === 'auto' && opfsAvailable());
  if (!useOpfs) {
    const max = options.maxMemoryBytes ?? 512 * 1024 * 1024;
    const fetch = withCredentials(options.fetch ?? globalThis.fetch.bind(globalThis), options);
    const file = await downloadTo(url, async (info) => new MemoryTarget(info.name, '', max), {
      ...options,
      fetch,
    });
    return {
      name: file.name,
      size: file.size,
      storage: 'memory',
      key: null,
      file: async () => file,
      remove: async () => {},
    };
  }
  const absolute = new URL(url, globalThis.location?.href).href;
  const result = await inWorker(absolute, options);
  return {
    name: result.name,
    size: result.size,
    storage: 'opfs',
    key: result.key,
    file: () => storedFile(result.key, result.name),
    remove: () => removeStoredDownload(result.key),
  };
}

function inWorker(url: string, options: BrowserDownloadOptions) {
  const { signal } = options;
  if (signal?.aborted) return Promise.reject(abortError());
  const worker = new Worker(options.downloadWorkerUrl ?? new URL('./download-worker.js', import.meta.url), {
    type: 'module',
  });
  return new Promise<{ key: string; name: string; size: number }>((resolve, reject) => {
    let settled = false;
    const onAbort = () => worker.postMessage({ type: 'abort' });
    const finish = (fn: () => void) => {
      if (settled) return;
      settled = true;
      signal?.removeEventListener('abort', onAbort);
      worker.terminate();
      fn();
    };
    signal?.addEventListener('abort', onAbort, { once: true });
    worker.onmessage = (e: MessageEvent<DownloadReport>) => {
      const m = e.data;
      if (m.type === 'progress') options.onProgress?.(m.progress);
      else if (m.type === 'done') finish(() => resolve(m.result));
      else finish(() => reject(new TransferError(m.code, m.message, { status: m.status })));
    };
    worker.onerror = (e: ErrorEvent) => {
      e.preventDefault();
      finish(() =>
        reject(
          new TransferError('LOCAL_IO', `The download worker failed: ${e.message || 'could not load it'}`),
        ),
      );
    };
    const job: DownloadJob = {
      type: 'start',
      url,
      connections: options.connections,
      retries: options.retries,
      minDelay: options.minDelay,
      maxDelay: options.maxDelay,
      // A flush of OPFS costs little next to a disk's datasync: checkpoint every second.
      checkpointInterval: options.checkpointInterval ?? 1000,
      headers: options.headers,
    };
    worker.postMessage(job);
  });
}

/** The key under which a URL's download is stored in OPFS. */
export const storedKeyOf = keyOf;

export const client = { upload, download } satisfies ResumableClient<
  Blob | ByteSource,
  BrowserDownloadOptions,
  BrowserDownload
>;
