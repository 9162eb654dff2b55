/** What the core needs from a platform: bytes in, bytes out, hashing, and a place to remember. */
import type { DownloadInfo } from './types.js';

/** A file to upload. */
export interface ByteSource {
  /** The file's name, told to the server (its extension becomes the link's). */
  name: string;
  /** Optional MIME type: the extension when the name has none (`image/png` → `.png`). */
  type?: string | undefined;
  size: number;
  /** Identity for the hash cache (path+size+mtime, or name+size+lastModified); undefined: no cache. */
  cacheKey: string | undefined;
  /** The whole file, in order (read once for hashing). */
  stream(): AsyncIterable<Uint8Array>;
  /** Bytes start..end-1. */
  slice(start: number, end: number): Promise<Uint8Array>;
  /**
   * Optional: bytes start..end-1 as a request body the transport reads itself, never copied into
   * script memory (a File's slice, which the browser streams from disk). Chromium sent a 4 MiB
   * Uint8Array body at ~13 MB/s against ~65 MB/s for the same bytes as a Blob (64 MiB in 16
   * requests: 4.7–5.1 s vs 0.8–1.1 s), which made the page's uploads 6–9× slower than Uppy's.
   * In Node, a slice of the file that reads itself from disk in 1 MiB pieces as the transport
   * sends it (client/node/file-source.ts): no chunk is held whole in memory.
   */
  sliceBody?(start: number, end: number): Blob;
  /** Optional: reads up to target.length bytes at `position` into the caller's memory (0 at the end). */
  readInto?(target: Uint8Array, position: number): Promise<number>;
  /** Optional: lets go of what the source holds open (its descriptor); a later read opens it again. */
  close?(): Promise<void>;
}

/** An incremental MD5; digest() returns lowercase hex and starts the next digest afresh. */
export interface Md5 {
  update(data: Uint8Array): void;
  digest(): string;
}

export type Md5Factory = () => Md5 | Promise<Md5>;

/** An incremental SHA-256, the same shape as Md5 (lowercase hex; digest() starts afresh). */
export type Sha256 = Md5;
export type Sha256Factory = () => Sha256 | Promise<Sha256>;

export interface FileHashes {
  fileId: string;
  chunkSize: number;
  /** MD5 + index per chunk, in order (PROTOCOL.md). */
  chunkIds: string[];
  /**
   * The whole file's SHA-256, from the same read: sent in the handshake so that an MD5 twin is
   * never taken for this file (PROTOCOL.md §Collisions). Absent in hashes cached before it was.
   */
  sha256?: string;
  /**
   * A deferred upload of these bytes not committed yet (PROTOCOL.md §Deferred upload): an upload
   * interrupted after the file was hashed continues it instead of sending every chunk again.
   */
  uploadId?: string;
}

/**
 * Computes the hashes of a source in ONE pass (the browser runs it in a worker). `onChunk`, if
 * given, is told each chunk's id as soon as it is known, in order, and every id before the
 * promise resolves (a hasher that cannot tell them earlier tells them all at the end).
 */
export type Hasher = (
  source: ByteSource,
  chunkSize: number,
  onBytes: (done: number) => void,
  signal?: AbortSignal,
  onChunk?: (index: number, id: string) => void,
) => Promise<FileHashes>;

/**
 * The whole file's MD5 and SHA-256 in one pass, without the chunk MD5s: for a deferred upload
 * whose chunks go with a checksum (PROTOCOL.md §Chunk checksums). `chunkIds` may be empty.
 */
export type FileHasher = (
  source: ByteSource,
  chunkSize: number,
  onBytes: (done: number) => void,
  signal?: AbortSignal,
) => Promise<FileHashes>;

/** What a platform brings to send chunks with a checksum instead of their MD5 ids. */
export interface ChunkChecksums {
  /** The algorithm its checksums are (the server must list it in /api/version `chunkChecksums`). */
  algorithm: 'xxh64';
  fileHasher: FileHasher;
  /** `<algorithm>:<hex>` of bytes start..end-1. */
  checksum(source: ByteSource, start: number, end: number): Promise<string>;
}

export interface HashCache {
  get(key: string): Promise<FileHashes | undefined>;
  set(key: string, hashes: FileHashes): Promise<void>;
}

/** Persisted progress of one download (aria2-style control data). */
export interface DownloadState {
  url: string;
  size: number;
  etag: string | null;
  lastModified: string | null;
  /** Byte ranges; `next` is the first byte not yet written of [start, end]. */
  segments: { start: number; end: number; next: number }[];
}

/** Where a download's bytes go, and where its progress is remembered. */
export interface DownloadTarget<Result> {
  /**
   * Optional: the result at once when the destination already holds this very version of the
   * file (a finished download run again), so nothing is fetched; undefined otherwise.
   */
  existing?(info: DownloadInfo): Promise<Result | undefined>;
  /** The progress saved by an earlier run, if it can be trusted; undefined: start over. */
  loadState(): Promise<DownloadState | undefined>;
  /** The durable record: called after flush(), so it claims only bytes already durable. */
  saveState(state: DownloadState): Promise<void>;
  /** Creates or reopens the partial file; `fresh` discards what it held. */
  open(size: number, fresh: boolean): Promise<void>;
  /** Writes the parts back to back from `position` (network reads, gathered without a copy). */
  write(position: number, parts: readonly Uint8Array[]): Promise<void>;
  /**
   * Optional: records progress often (about every second) and cheaply: no flush, no fsync. It
   * outlives a killed process but maybe not a machine crash, so loadState() trusts it only where
   * the target can tell it survived (the Node target: written in this boot) and otherwise falls
   * back to what saveState() made durable. Without it, a killed process loses what came since the
   * last saveState() (checkpointInterval).
   */
  recordProgress?(state: DownloadState): Promise<void>;
  /** Makes written bytes durable before the state that claims them is saved. */
  flush(): Promise<void>;
  /** Checks the size, publishes the file (atomic rename), removes the state. */
  complete(size: number, info?: DownloadInfo): Promise<Result>;
  close(): Promise<void>;
}
