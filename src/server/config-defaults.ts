/**
 * The server configuration's defaults, apart from its schema (config.ts) so that the CLI can show
 * them in its help without importing zod and the server (see cli/serve.ts).
 */
import { DEFAULT_UPLOAD_LIMITS } from '../core/context.js';
import { DEFAULT_CACHE_BYTES } from '../storage/local-disk/cache.js';

export const CONFIG_DEFAULTS = {
  port: 8000,
  /** Loopback: exposing the server is a deliberate choice (--host 0.0.0.0). */
  host: '127.0.0.1',
  dataDir: './data',
  corsOrigin: '*',
  maxChunkSize: 64 * 1024 * 1024,
  maxChunks: 100_000,
  expireAfterMs: 24 * 60 * 60 * 1000,
  logLevel: 'info',
  shutdownGraceMs: 10_000,
  // Like Apache's mod_reqtimeout minrate: fewer than 30 KiB in a minute is a slow-loris, not a
  // slow link (a 2G phone does several KB/s).
  minBodyRate: 512,
  bodyRateWindowMs: 60_000,
  /** null: derived from maxChunks (a plan of maxChunks ids fits), at most 8 MiB. */
  maxHandshakeBytes: null,
  chunkAnswerBytesPerId: 2048,
  statePageLimit: 1000,
  cacheBytes: DEFAULT_CACHE_BYTES,
  tusPath: '/files/' as string | null,
  streamLockIdleMs: 10_000,
  streamDoneTtlMs: 60 * 60 * 1000,
  ...DEFAULT_UPLOAD_LIMITS,
} as const;
