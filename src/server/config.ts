/** Server configuration with its defaults (CLI flags and environment variables map onto this). */
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
  /**
   * The cap on a whole handshake body (JSON, urlencoded or multipart), in bytes; null: derived
   * from maxChunks, min(8 MiB, maxChunks × 48 + 64 KiB) (4.7 MiB for 100,000 chunks).
   */
  maxHandshakeBytes: number | null;
  /** A seed chunk answer lists at most max(1, ⌊chunk bytes / this⌋) needed ids (PROTOCOL.md §Bounds). */
  chunkAnswerBytesPerId: number;
  /** The default and largest page of GET /api/upload/<fileId>?offset=&limit=. */
  statePageLimit: number;
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
}

export const DEFAULT_CONFIG: ServerConfig = {
  port: 8000,
  host: '127.0.0.1',
  dataDir: './data',
  publicUrl: null,
  corsOrigin: '*',
  maxChunkSize: 64 * 1024 * 1024,
  maxChunks: 100_000,
  maxHandshakeBytes: null,
  chunkAnswerBytesPerId: 2048,
  statePageLimit: 1000,
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
};
