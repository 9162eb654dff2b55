/**
 * The server's configuration, as one schema: `startServer(overrides)` and `resumable serve` (flags
 * and environment variables, cli/serve-options.ts) both validate through `parseServerConfig`, so a
 * bad value gets the same complaint, naming its field, whichever way it came in. (The defaults are
 * in config-defaults.ts.)
 */
import { z } from 'zod';
import { parseHttpUrl } from '../config/values.js';
import { parseTrustedProxy } from '../http/client-address.js';
import type { StorageConfig } from '../storage/create-storage.js';
import { MAX_REDIRECT_TTL_SECONDS } from '../storage/s3/limits.js';
import { CONFIG_DEFAULTS } from './config-defaults.js';

/** A string checked by the parser the CLI uses for the same option: one message for both. */
function checkedBy(parse: (value: string) => string) {
  return z.string().transform((value, ctx) => {
    try {
      return parse(value);
    } catch (err: unknown) {
      ctx.issues.push({
        code: 'custom',
        input: value,
        message: err instanceof Error ? err.message : String(err),
      });
      return z.NEVER;
    }
  });
}

const storageSchema = z.discriminatedUnion('kind', [
  z.strictObject({ kind: z.literal('local'), dataDir: z.string().min(1) }),
  z.strictObject({
    kind: z.literal('s3'),
    bucket: z.string({ error: 'required with s3 storage' }).min(1),
    endpoint: checkedBy(parseHttpUrl).optional(),
    region: z.string().optional(),
    prefix: z.string().optional(),
    accessKeyId: z.string().optional(),
    secretAccessKey: z.string().optional(),
    forcePathStyle: z.boolean().optional(),
    /** GET/HEAD of /upload/ answer 302 to a presigned URL: the store serves the bytes. */
    redirect: z.boolean().optional(),
    /** Lifetime of the redirect's URLs (SigV4 allows at most 7 days). */
    redirectTtlSeconds: z.int().min(1).max(MAX_REDIRECT_TTL_SECONDS).optional(),
    /** The store's address as clients reach it (the redirect's URLs); default: endpoint. */
    publicEndpoint: checkedBy(parseHttpUrl).optional(),
    onBucketCreated: z
      .custom<(bucket: string) => void>((v) => typeof v === 'function', 'expected a function')
      .optional(),
  }),
]) satisfies z.ZodType<StorageConfig>;

const positiveInt = z.int().positive();

export const serverConfigSchema = z
  .strictObject({
    port: z.int().min(0).max(65535).default(CONFIG_DEFAULTS.port),
    host: z.string().min(1).default(CONFIG_DEFAULTS.host),
    dataDir: z.string().min(1).default(CONFIG_DEFAULTS.dataDir),
    /** Base of the links handed out (behind a proxy); otherwise taken from the request's Host. */
    publicUrl: checkedBy(parseHttpUrl).nullable().default(null),
    corsOrigin: z.string().min(1).default(CONFIG_DEFAULTS.corsOrigin),
    maxChunkSize: positiveInt.default(CONFIG_DEFAULTS.maxChunkSize),
    maxChunks: positiveInt.default(CONFIG_DEFAULTS.maxChunks),
    /** Incomplete uploads idle longer than this are deleted. */
    expireAfterMs: z.number().positive().default(CONFIG_DEFAULTS.expireAfterMs),
    /** Folders served under /download; null: <dataDir>/library, with the sample wallpapers. */
    libraryDirs: z.array(z.string().min(1)).nullable().default(null),
    /** The built web page; null: none. */
    webDir: z.string().min(1).nullable().default(null),
    logLevel: z
      .enum(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'])
      .default(CONFIG_DEFAULTS.logLevel),
    /** How long a graceful stop waits for running requests before cutting them. */
    shutdownGraceMs: z.number().nonnegative().default(CONFIG_DEFAULTS.shutdownGraceMs),
    /** A request body slower than this (bytes/s) over a whole window is cut with 408; 0: never. */
    minBodyRate: z.int().nonnegative().default(CONFIG_DEFAULTS.minBodyRate),
    bodyRateWindowMs: z.number().positive().default(CONFIG_DEFAULTS.bodyRateWindowMs),
    /** After the grace time, a body averaging fewer bytes/s since it began is cut with 408; 0: never. */
    minBodyAverageRate: z.int().nonnegative().default(CONFIG_DEFAULTS.minBodyAverageRate),
    bodyRateGraceMs: z.number().positive().default(CONFIG_DEFAULTS.bodyRateGraceMs),
    /** Connections held at once; lowered to fit the descriptor limit (http/connections.ts). */
    maxConnections: positiveInt.default(CONFIG_DEFAULTS.maxConnections),
    /** Connections held at once per client address (429 beyond); 0: no cap. */
    maxConnectionsPerClient: z.int().nonnegative().default(CONFIG_DEFAULTS.maxConnectionsPerClient),
    keepAliveTimeoutMs: z.number().positive().default(CONFIG_DEFAULTS.keepAliveTimeoutMs),
    headerTimeoutMs: z.number().positive().default(CONFIG_DEFAULTS.headerTimeoutMs),
    idleTimeoutMs: z.number().positive().default(CONFIG_DEFAULTS.idleTimeoutMs),
    /** Proxies whose X-Forwarded-For names the client: addresses, CIDRs or `loopback`. */
    trustProxy: z.array(checkedBy(parseTrustedProxy)).default([]),
    /**
     * One process serves everything ('single'), or, with `serve --workers N` (workers.ts), one
     * 'owner' handles uploads and also listens on `ownerSocket`, and 'reader's serve everything
     * else and forward the upload API to it there. A 'peer' serves everything beside other peers
     * (S3 storage: no upload state in a process).
     */
    role: z.enum(['single', 'owner', 'reader', 'peer']).default('single'),
    ownerSocket: z.string().min(1).nullable().default(null),
    /** Cap on a handshake body in bytes; null: derived from maxChunks (protocols/seed/handshake-body.ts). */
    maxHandshakeBytes: positiveInt.nullable().default(CONFIG_DEFAULTS.maxHandshakeBytes),
    /** A seed chunk answer lists at most one needed id per this many bytes of the chunk (docs/PROTOCOL.md §Bounds). */
    chunkAnswerBytesPerId: positiveInt.default(CONFIG_DEFAULTS.chunkAnswerBytesPerId),
    /** Most ids per list in one page of GET /api/upload/<id>. */
    statePageLimit: positiveInt.default(CONFIG_DEFAULTS.statePageLimit),
    /** Memory budget of the local-disk caches of upload state (plans, chunk indexes, regions). */
    cacheBytes: positiveInt.default(CONFIG_DEFAULTS.cacheBytes),
    /**
     * Local disk: 'chunk' fsyncs every write before acknowledging it; 'group' acknowledges once
     * written and syncs in groups (storage/local-disk/durability.ts, docs/durability.md). S3: no
     * effect (a PUT is durable when acknowledged).
     */
    durability: z.enum(['chunk', 'group']).default(CONFIG_DEFAULTS.durability),
    /** Largest file an upload may make (413 FILE_TOO_LARGE). */
    maxFileSize: positiveInt.default(CONFIG_DEFAULTS.maxFileSize),
    /** Incomplete uploads at once, in all and per client address (429 TOO_MANY_UPLOADS). */
    maxOpenUploads: positiveInt.default(CONFIG_DEFAULTS.maxOpenUploads),
    maxUploadsPerClient: positiveInt.default(CONFIG_DEFAULTS.maxUploadsPerClient),
    /** Bytes held by incomplete uploads, in all and per creating client (507 QUOTA_EXCEEDED). */
    maxIncompleteBytes: positiveInt.default(CONFIG_DEFAULTS.maxIncompleteBytes),
    maxIncompleteBytesPerClient: positiveInt.default(CONFIG_DEFAULTS.maxIncompleteBytesPerClient),
    /** Free space kept on the data disk (507 before it is used); null: min(1 GiB, 5% of the disk). */
    reserveBytes: z.int().nonnegative().nullable().default(CONFIG_DEFAULTS.reserveBytes),
    /** Published files older than this are deleted by the sweeper; 0: never. */
    expirePublishedMs: z.number().nonnegative().default(CONFIG_DEFAULTS.expirePublishedMs),
    /**
     * Built-in access control (src/http/auth/): none; `token`, bearer tokens from
     * authTokensFile / authTokens; `signed`, upload tokens signed with authSecret(File).
     * `startServer`'s `authorize` hook replaces it.
     */
    auth: z.enum(['none', 'token', 'signed']).default(CONFIG_DEFAULTS.auth),
    /** Bearer tokens, one per line (`name:token`: the name is the principal). */
    authTokensFile: z.string().min(1).nullable().default(null),
    /** Bearer tokens given directly (`token` or `name:token` each). */
    authTokens: z.array(z.string().min(1)).nullable().default(null),
    /** The secret signed upload tokens are checked with (at least 32 bytes), or the file holding it. */
    authSecretFile: z.string().min(1).nullable().default(null),
    authSecret: z.string().min(1).nullable().default(null),
    /**
     * Host header values links may be built from (`name` or `name:port`); null: loopback names,
     * the bound address and, bound to all, this machine's addresses (any port).
     */
    allowedHosts: z.array(z.string().min(1)).nullable().default(null),
    /** Origin of the /upload/ links (a separate download host serving this server); null: the links' base. */
    userContentOrigin: checkedBy(parseHttpUrl).nullable().default(null),
    /** The web page's CSP frame-ancestors (`'none'`, `'self'`, origins). */
    frameAncestors: z.string().min(1).default(CONFIG_DEFAULTS.frameAncestors),
    /** Who may read /metrics: loopback clients only, everyone ('on', behind your own access rule), or nobody. */
    metrics: z.enum(['off', 'loopback', 'on']).default(CONFIG_DEFAULTS.metrics),
    /**
     * Base path of the tus 1.0 and IETF resumable-upload endpoint (protocols/tus/routes.ts), with
     * its slashes; null: not served.
     */
    tusPath: z
      .string()
      .regex(/^\/(?:[A-Za-z0-9._~-]+\/)+$/, 'a path such as /files/ (slashes around it)')
      .refine((p) => !/^\/(?:api|upload|download)\//.test(p), 'taken by the server')
      .nullable()
      .default(CONFIG_DEFAULTS.tusPath),
    /** A PATCH holding a stream upload's lock with no byte for this long loses it to a newer one. */
    streamLockIdleMs: z.number().positive().default(CONFIG_DEFAULTS.streamLockIdleMs),
    /** A completed tus/IETF upload answers HEAD this long, then its record goes. */
    streamDoneTtlMs: z.number().positive().default(CONFIG_DEFAULTS.streamDoneTtlMs),
    /** Upload sessions (one per requester) one upload may have at once (429 TOO_MANY_UPLOADS). */
    maxSessionsPerUpload: positiveInt.default(CONFIG_DEFAULTS.maxSessionsPerUpload),
    /**
     * Instant upload of a published file: 'open' (anyone naming its MD5), 'proof' (a client proving
     * it holds the bytes), 'off'; null: 'open' when host is loopback, else 'proof'.
     */
    instantUpload: z.enum(['open', 'proof', 'off']).nullable().default(null),
    /** Proof-of-ownership challenges outstanding at once (the oldest are forgotten past it). */
    maxProofChallenges: positiveInt.default(CONFIG_DEFAULTS.maxProofChallenges),
    /** Where uploads live; default: the local disk, under dataDir. */
    storage: storageSchema.optional(),
  })
  .transform(({ storage, ...config }) => ({
    ...config,
    storage: storage ?? ({ kind: 'local', dataDir: config.dataDir } satisfies StorageConfig),
  }));

export type ServerConfig = z.output<typeof serverConfigSchema>;

/** A configuration that failed the schema; each issue names its field (e.g. `storage.bucket`). */
export class ConfigError extends Error {
  readonly issues: readonly { path: readonly PropertyKey[]; message: string }[];
  constructor(issues: readonly { path: readonly PropertyKey[]; message: string }[]) {
    const lines = issues.map((i) => `${i.path.map(String).join('.') || '(top level)'}: ${i.message}`);
    super(`invalid server configuration: ${lines.join('; ')}`);
    this.name = 'ConfigError';
    this.issues = issues;
  }
}

/** Defaults filled in, every value checked; throws ConfigError. */
export function parseServerConfig(input: unknown): ServerConfig {
  const result = serverConfigSchema.safeParse(input);
  if (!result.success) throw new ConfigError(result.error.issues);
  return result.data;
}

export const DEFAULT_CONFIG: ServerConfig = parseServerConfig({});
