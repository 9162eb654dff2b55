/**
 * The client's public API, shared by the Node and the browser entries: each entry's exports are
 * checked against ResumableClient, so the two can never drift apart.
 */
import type { TransferError } from '../../protocol/errors.js';

export type TransferPhase = 'hashing' | 'uploading' | 'downloading' | 'done';

export interface Progress {
  phase: TransferPhase;
  /** Bytes hashed, held by the server, or written, depending on the phase. */
  bytesDone: number;
  bytesTotal: number;
  /** Bytes per second over the last few seconds. */
  speed: number;
  /** Seconds left at the current speed, or null when unknown. */
  eta: number | null;
  /** Upload: the server already had the file (秒传). */
  instant?: boolean;
  /** Download: the file changed on the server and the download started over. */
  restarted?: boolean;
  /** Download, phase 'done': the destination already held this very file; nothing was fetched. */
  alreadyComplete?: boolean;
}

/** What `onRetry` is told before each wait. */
export interface RetryEvent {
  /** Why the last attempt failed. */
  error: TransferError;
  /** The retry about to be made: 1 for the first. */
  attempt: number;
  /** Retries allowed in all (`retries`, or the length of `retryDelays`). */
  retries: number;
  /** Milliseconds until it is made (the backoff, or the server's longer Retry-After). */
  delay: number;
}

export interface RetryOptions {
  /** Attempts per request after the first (default 8). */
  retries?: number;
  /** First backoff delay in ms, doubled each time up to maxDelay (default 300). */
  minDelay?: number;
  maxDelay?: number;
  /**
   * The wait in ms before each retry, as tus-js-client's `retryDelays`: its length is the number
   * of retries; `[]` or `null` never retries. Replaces `retries`, `minDelay` and `maxDelay`.
   */
  retryDelays?: readonly number[] | null;
  /**
   * Whether a failure is worth another attempt (`attempt`: the retry it would be, 1 for the
   * first). Default: `err.retryable` (network errors, timeouts, 408, 429, 5xx). Not asked once
   * the retries are used up, nor after an abort.
   */
  onShouldRetry?: (err: TransferError, attempt: number) => boolean;
  /** Told before each retry: why, which attempt, and how long until it is made. */
  onRetry?: (event: RetryEvent) => void;
}

/** A request about to be sent: a hook may change its headers (a fresh token, say). */
export interface OutgoingRequest {
  url: string;
  method: string;
  headers: Headers;
}

/** Credentials: sent with every request of the transfer (a 401 or 403 is never retried). */
export interface CredentialOptions {
  /** Added to every request, e.g. `{ authorization: 'Bearer …' }`. */
  headers?: Record<string, string>;
  /** Called before each request (after `headers` are set); may change `req.headers`. */
  onBeforeRequest?: (req: OutgoingRequest) => void | Promise<void>;
  /** Called with each response before it is read (do not consume its body). */
  onAfterResponse?: (req: OutgoingRequest, res: Response) => void | Promise<void>;
}

export interface CommonOptions extends RetryOptions, CredentialOptions {
  signal?: AbortSignal;
  onProgress?: (p: Progress) => void;
  /** The HTTP transport (default: globalThis.fetch). Tests inject a fake one. */
  fetch?: typeof fetch;
}

export interface UploadOptions extends CommonOptions {
  /** Base URL of the server, e.g. http://localhost:8000. */
  server: string;
  /**
   * Bytes per chunk (default: 4 MiB, grown so a file never needs more than 10,000 chunks). A
   * server that says it takes less (GET /api/version) gets the largest whole MiB it takes.
   */
  chunkSize?: number;
  /** Chunks in flight at once (default 4). */
  concurrency?: number;
  /** The file's name on the server (default: the source's name). */
  name?: string;
  /** File extension with its dot (default: from the name, else from the source's MIME type, else `.bin`). */
  ext?: string;
  /**
   * When `signal` aborts the upload, delete it on the server (DELETE /api/upload/<fileId>) before
   * the promise rejects with ABORTED: tus-js-client's `abort(true)`. Default false: an abort is a
   * pause, and calling upload() again resumes.
   */
  terminateOnAbort?: boolean;
  /**
   * Start sending chunks while the file is still being hashed, when the server offers it (its
   * /api/version lists 'deferred-upload'; PROTOCOL.md §Deferred upload) and the file's hashes are
   * not cached (cached ones go to the ordinary handshake, for 秒传). Default false (256 MiB, local
   * disk, 2 cores, chunks by xxh64: 3.80 s vs 4.07 s ordinary, a small gain; on S3 its chunks
   * cannot go straight into parts); true: any file whose hashes are not cached.
   */
  deferred?: boolean;
  /**
   * A deferred upload sends each chunk with a fast checksum of its bytes (xxh64) instead of an id
   * made of its MD5, when the platform brings one (Node does) and the server takes it (its
   * /api/version lists 'chunk-checksum'; PROTOCOL.md §Chunk checksums): the client then never
   * computes the chunk MD5s. Default true; false: chunks go by their MD5 ids.
   */
  chunkChecksums?: boolean;
}

/** Which upload: the file's MD5 and, when our client declared it, its SHA-256 (the upload's key). */
export interface UploadKey {
  fileId: string;
  sha256?: string | undefined;
  /**
   * A deferred upload not committed yet (PROTOCOL.md §Deferred upload): the server keys it by
   * this provisional id, not by fileId and sha256.
   */
  uploadId?: string | undefined;
}

/** For terminate() and findPreviousUploads(): the server and how to reach it. */
export interface TerminateOptions extends RetryOptions, CredentialOptions {
  /** Base URL of the server, e.g. http://localhost:8000. */
  server: string;
  signal?: AbortSignal;
  /** The HTTP transport (default: the entry's). */
  fetch?: typeof fetch;
}

export interface FindPreviousOptions extends TerminateOptions {
  /** The chunk size upload() is given, if any: the cache is asked for the plan upload() would make. */
  chunkSize?: number;
}

/** An upload the hash cache knows for a file, with what the server holds of it. */
export interface PreviousUpload extends UploadKey {
  sha256: string | undefined;
  chunkSize: number;
  size: number;
  /**
   * 'uploading': the server holds part of it for this client (upload() sends the rest);
   * 'complete': published (`url`); 'absent': the server keeps no upload of it for this client
   * (never started, expired or abandoned: upload() starts over, or links at once if the server
   * has the file).
   */
  status: 'uploading' | 'complete' | 'absent';
  bytesHeld: number;
  chunksNeeded: number;
  chunksTotal: number;
  url: string | null;
}

export interface UploadResult {
  url: string;
  fileId: string;
  /** The server already had the file: nothing was sent. */
  instant: boolean;
  /** Chunk bytes whose upload the server confirmed in this call (0 on an instant upload). */
  bytesSent: number;
  /** Whether the hashes came from the cache (the file was not read again). */
  hashCached: boolean;
}

export interface DownloadOptions extends CommonOptions {
  /** Parallel ranged connections (default 4). */
  connections?: number;
  /**
   * Ms to wait for an answer to begin, connecting included (default 10000): a server that is down
   * or accepts and never answers fails this attempt, which is retried.
   */
  timeout?: number;
  /**
   * Ms a response body may send nothing before the attempt is given up and retried from the
   * last byte written (default 30000): a stalled read never hangs the download.
   */
  stallTimeout?: number;
  /**
   * Redirects (301, 302, 303, 307, 308) followed before giving up (default 10; 0: none). The
   * size and ETag are those of the final URL; credentials in `headers` are not sent to another
   * origin.
   */
  maxRedirects?: number;
  /**
   * How often progress is made durable, in ms (default 5000): at most this much is fetched again
   * after a machine crash. A target that can also record progress cheaply (the Node file target,
   * where the system has a boot id) does so every second, which is what a killed process loses.
   */
  checkpointInterval?: number;
}

export interface DownloadInfo {
  /**
   * Where the probe's redirects led (the URL asked for if none). The bytes are still asked of the
   * URL asked for, its redirects followed again by every request: a redirect's target may be
   * signed for one method and expire (a presigned URL).
   */
  url: string;
  size: number;
  /** Strong ETag, or null when the server has none. */
  etag: string | null;
  lastModified: string | null;
  acceptRanges: boolean;
  /** From Content-Disposition, else the URL's last segment. */
  name: string;
}

export interface ResumableClient<Source, DownloadOpts extends DownloadOptions, DownloadResult> {
  upload(source: Source, options: UploadOptions): Promise<UploadResult>;
  download(url: string, options: DownloadOpts): Promise<DownloadResult>;
}
