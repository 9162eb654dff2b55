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
  // And on average since the body began, after a grace time: a 600 B/s drip passes the window's
  // bar forever but is cut here after 10 s. 4 KiB/s is below what EDGE (2G) uploads (~10 KB/s);
  // a slower body of 1 MiB would take over 4 minutes.
  minBodyAverageRate: 4096,
  bodyRateGraceMs: 10_000,
  /** Connections held at once (also kept below the descriptor limit: http/connections.ts). */
  maxConnections: 10_000,
  /** Per client address (nginx limit_conn); browsers open 6 per host, download tools 4 to 16. */
  maxConnectionsPerClient: 64,
  /** nginx: keepalive_timeout 75 s, client_header_timeout 60 s. */
  keepAliveTimeoutMs: 30_000,
  headerTimeoutMs: 60_000,
  /** No byte either way for this long ends a connection. */
  idleTimeoutMs: 120_000,
  /** null: derived from maxChunks (a plan of maxChunks ids fits), at most 8 MiB. */
  maxHandshakeBytes: null,
  chunkAnswerBytesPerId: 2048,
  statePageLimit: 1000,
  cacheBytes: DEFAULT_CACHE_BYTES,
  /** Local disk: writes durable in groups, re-verified after a crash of the machine (docs/durability.md). */
  durability: 'group' as 'chunk' | 'group',
  /** /metrics answers loopback clients only (a scraper on the host or through a trusted proxy). */
  metrics: 'loopback' as 'off' | 'loopback' | 'on',
  tusPath: '/files/' as string | null,
  streamLockIdleMs: 10_000,
  streamDoneTtlMs: 60 * 60 * 1000,
  ...DEFAULT_UPLOAD_LIMITS,
  /** No access control: the seed's behaviour, for the loopback default (serve warns otherwise). */
  auth: 'none',
  /** Who may frame the web page (CSP frame-ancestors): nobody. */
  frameAncestors: "'none'",
} as const;
