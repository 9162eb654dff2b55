/**
 * Building the S3 client from the backend's options, with a bound on every call.
 *
 * Without one, a store that accepts connections and never answers held every S3 call, and with
 * them every handshake and /upload/ read, for as long as the kernel kept the sockets (> 130 s).
 * The SDK's own NodeHttpHandler (built from the options given as `requestHandler`) enforces:
 * - connectTimeoutMs: the TCP connection;
 * - requestTimeoutMs: each attempt, from sending the request (bodies are at most one 8 MiB part)
 *   to the response's headers; copies made inside the store get copyTimeoutMs instead (a store
 *   may say nothing while it copies a part of up to 5 GiB);
 * - idleTimeoutMs: a socket with no traffic, which bounds a response body that stops half way.
 * A timed-out attempt, a 5xx (503 SlowDown included) or a reset connection is retried by the
 * SDK's standard strategy (exponential backoff with jitter, and a retry budget shared by the
 * client, so an outage soon fails at once instead of multiplying the load), up to maxAttempts.
 * A store that never answers thus fails a call after maxAttempts × requestTimeoutMs plus the
 * backoff: 3 × 5 s + < 1 s with the defaults; the server then answers 503 STORAGE_UNAVAILABLE.
 */
import { S3Client } from '@aws-sdk/client-s3';

// The SDK is pinned (package.json) to a release that supports Node 20; its notice that later
// releases will need Node 22 is for whoever upgrades it, not for every server start.
process.env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED ??= 'true';

export interface S3ClientOptions {
  /** e.g. http://127.0.0.1:7480 for Ceph RGW; undefined for AWS. */
  endpoint?: string | undefined;
  region?: string | undefined;
  /** Credentials; default: the standard AWS environment variables and profiles. */
  accessKeyId?: string | undefined;
  secretAccessKey?: string | undefined;
  /** Path-style URLs (needed by Ceph and MinIO); default true when an endpoint is given. */
  forcePathStyle?: boolean | undefined;
  /** TCP connection timeout; default 3 s. */
  connectTimeoutMs?: number | undefined;
  /** Per attempt, request sent to response headers; default 5 s (raise it for a slow link). */
  requestTimeoutMs?: number | undefined;
  /** Per attempt of a copy made inside the store (chunk commit, part copy, completion); default 2 min. */
  copyTimeoutMs?: number | undefined;
  /**
   * A socket silent this long fails its call; default 2 min, the server's own limit for a
   * silent client, so a paused download is never cut sooner than it would be anyway.
   */
  idleTimeoutMs?: number | undefined;
  /** Attempts per call, the first included; default 3 (the SDK's default). */
  maxAttempts?: number | undefined;
}

export const S3_TIMEOUT_DEFAULTS = {
  connectTimeoutMs: 3_000,
  requestTimeoutMs: 5_000,
  copyTimeoutMs: 120_000,
  idleTimeoutMs: 120_000,
  maxAttempts: 3,
};

/** A logger that says nothing: the caller reports the failure itself. */
const silent = { debug() {}, info() {}, warn() {}, error() {} };

/**
 * The client. `quiet`: for calls whose failures the caller answers itself, e.g. a part streamed
 * from a client's body, which the SDK never retries and otherwise warns about on the console at
 * every client that goes away mid-chunk.
 */
export function createS3Client(options: S3ClientOptions, quiet = false): S3Client {
  const d = S3_TIMEOUT_DEFAULTS;
  return new S3Client({
    ...(quiet ? { logger: silent } : {}),
    endpoint: options.endpoint,
    region: options.region ?? process.env.AWS_REGION ?? 'us-east-1',
    forcePathStyle: options.forcePathStyle ?? options.endpoint !== undefined,
    credentials:
      options.accessKeyId && options.secretAccessKey
        ? { accessKeyId: options.accessKeyId, secretAccessKey: options.secretAccessKey }
        : undefined,
    // Checksums only where S3 requires them: Ceph and MinIO versions differ in what they accept.
    requestChecksumCalculation: 'WHEN_REQUIRED',
    responseChecksumValidation: 'WHEN_REQUIRED',
    maxAttempts: options.maxAttempts ?? d.maxAttempts,
    requestHandler: {
      connectionTimeout: options.connectTimeoutMs ?? d.connectTimeoutMs,
      requestTimeout: options.requestTimeoutMs ?? d.requestTimeoutMs,
      // Without it the SDK only logs a warning when requestTimeout passes, and keeps waiting.
      throwOnRequestTimeout: true,
      socketTimeout: options.idleTimeoutMs ?? d.idleTimeoutMs,
    },
  });
}

/** send() options for a copy made inside the store: a longer wait for its answer. */
export function copyCallOptions(options: S3ClientOptions): { requestTimeout: number } {
  return { requestTimeout: options.copyTimeoutMs ?? S3_TIMEOUT_DEFAULTS.copyTimeoutMs };
}
