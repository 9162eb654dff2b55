/** Server configuration with its defaults (CLI flags and environment variables map onto this). */
import { DEFAULT_UPLOAD_LIMITS } from '../core/context.js';
import { DEFAULT_CACHE_BYTES } from '../storage/local-disk/cache.js';

export interface ServerConfig {
  port: number;
  /** Loopback by default: exposing the server is a deliberate choice (--host 0.0.0.0). */
  host: string;
  dataDir: string;
  /** Base of the links handed out (behind a proxy); otherwise taken from the request's Host. */
  publicUrl: string | null;
  corsOrigin: string;
  maxChunkSize: number;
  maxChunks: number;
  /** Incomplete uploads idle longer than this are deleted. */
  expireAfterMs: number;
  /** Folders served under /download; null: <dataDir>/library, with the sample wallpapers. */
  libraryDirs: string[] | null;
  /** The built web page; null: none. */
  webDir: string | null;
  logLevel: string;
  /** How long a graceful stop waits for running requests before cutting them. */
  shutdownGraceMs: number;
  /** A request body slower than this (bytes/s) over a whole window is cut with 408; 0: never. */
  minBodyRate: number;
  bodyRateWindowMs: number;
  /**
   * One process serves everything ('single'), or, with `serve --workers N` (workers.ts), one
   * 'owner' handles uploads and also listens on `ownerSocket`, and 'reader's serve everything else
   * and forward the upload API to it there. A 'peer' serves everything beside other peers (S3
   * storage: no upload state in a process).
   */
  role: 'single' | 'owner' | 'reader' | 'peer';
  ownerSocket: string | null;
  /** Memory budget of the local-disk caches of upload state (plans, chunk indexes, regions). */
  cacheBytes: number;
  /** Largest file an upload may make (413 FILE_TOO_LARGE). */
  maxFileSize: number;
  /** Incomplete uploads at once, in all and per client address (429 TOO_MANY_UPLOADS). */
  maxOpenUploads: number;
  maxUploadsPerClient: number;
  /** Bytes held by incomplete uploads, in all and per creating client (507 QUOTA_EXCEEDED). */
  maxIncompleteBytes: number;
  maxIncompleteBytesPerClient: number;
  /** Free space kept on the data disk (507 before it is used); null: min(1 GiB, 5% of the disk). */
  reserveBytes: number | null;
  /** Published files older than this are deleted by the sweeper; 0: never. */
  expirePublishedMs: number;
}

export const DEFAULT_CONFIG: ServerConfig = {
  port: 8000,
  host: '127.0.0.1',
  dataDir: './data',
  publicUrl: null,
  corsOrigin: '*',
  maxChunkSize: 64 * 1024 * 1024,
  maxChunks: 100_000,
  expireAfterMs: 24 * 60 * 60 * 1000,
  libraryDirs: null,
  webDir: null,
  logLevel: 'info',
  shutdownGraceMs: 10_000,
  // Like Apache's mod_reqtimeout minrate: fewer than 30 KiB in a minute is a slow-loris, not a
  // slow link (a 2G phone does several KB/s).
  minBodyRate: 512,
  bodyRateWindowMs: 60_000,
  role: 'single',
  ownerSocket: null,
  cacheBytes: DEFAULT_CACHE_BYTES,
  ...DEFAULT_UPLOAD_LIMITS,
};
