/**
 * `resumable serve`'s options as data: flag, environment variable, help, where the value goes in
 * the server's configuration, and how the typed string becomes that value. Commander reads flags,
 * environment and defaults; the configuration schema (server/config.ts) then checks the whole.
 */
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { Option } from 'commander';
import {
  parseCount,
  parseDuration,
  parseHttpUrl,
  parseList,
  parsePort,
  parseSize,
  parseWorkers,
} from '../config/values.js';
import { parseTrustedProxy } from '../http/client-address.js';
import type { ServerConfig } from '../server/config.js';
import { CONFIG_DEFAULTS } from '../server/config-defaults.js';
import type { S3StorageOptions } from '../storage/s3/s3.js';
import { optionParser } from './parse.js';

/** A ServerConfig field, a field of its `storage`, or `workers` (the command's own: workers.ts). */
export type OptionKey =
  | Exclude<keyof ServerConfig, 'storage' | 'shutdownGraceMs' | 'role' | 'ownerSocket'>
  | `storage.${'kind' | Exclude<keyof S3StorageOptions, 'forcePathStyle' | 'onBucketCreated'>}`
  | 'workers';

export interface ServeOption {
  flags: string;
  env: string;
  description: string;
  key: OptionKey;
  parse?: (value: string) => unknown;
  /** Shown in the help; the configuration schema holds the real default. */
  default?: unknown;
  /** How the help shows the default when not as the value itself (64MiB, not 67108864). */
  shownDefault?: string;
  choices?: string[];
}

/** The page built by `npm install` (web/dist at the package root), if present. */
function defaultWebDir(): string | undefined {
  const dir = fileURLToPath(new URL('../../web/dist', import.meta.url));
  return existsSync(dir) ? dir : undefined;
}

const sizeOrOff = (value: string) => (value === '0' ? 0 : parseSize(value));
const durationOrOff = (value: string) => (value === '0' ? 0 : parseDuration(value));
const countOrOff = (value: string) => (value === '0' ? 0 : parseCount(value));

const SERVE_OPTIONS: readonly ServeOption[] = [
  {
    flags: '-p, --port <port>',
    env: 'RESUMABLE_PORT',
    description: 'port to listen on',
    key: 'port',
    parse: parsePort,
    default: CONFIG_DEFAULTS.port,
  },
  {
    flags: '--host <host>',
    env: 'RESUMABLE_HOST',
    description: 'address to bind (0.0.0.0 for all)',
    key: 'host',
    default: CONFIG_DEFAULTS.host,
  },
  {
    flags: '-d, --data <dir>',
    env: 'RESUMABLE_DATA',
    description: 'data folder (uploads, published files)',
    key: 'dataDir',
    default: CONFIG_DEFAULTS.dataDir,
  },
  {
    flags: '--public-url <url>',
    env: 'RESUMABLE_PUBLIC_URL',
    description: 'base of the links handed out (behind a proxy)',
    key: 'publicUrl',
    parse: parseHttpUrl,
  },
  {
    flags: '--cors-origin <origins>',
    env: 'RESUMABLE_CORS_ORIGIN',
    description: '* or a comma-separated origin list',
    key: 'corsOrigin',
    default: CONFIG_DEFAULTS.corsOrigin,
  },
  {
    flags: '--max-chunk-size <size>',
    env: 'RESUMABLE_MAX_CHUNK_SIZE',
    description: 'largest accepted chunk',
    key: 'maxChunkSize',
    parse: parseSize,
    default: CONFIG_DEFAULTS.maxChunkSize,
    shownDefault: '64MiB',
  },
  {
    flags: '--max-chunks <n>',
    env: 'RESUMABLE_MAX_CHUNKS',
    description: 'most chunks per file',
    key: 'maxChunks',
    parse: parseCount,
    default: CONFIG_DEFAULTS.maxChunks,
  },
  {
    flags: '--min-body-rate <size>',
    env: 'RESUMABLE_MIN_BODY_RATE',
    description: 'bytes per second a request body must average (0: off)',
    key: 'minBodyRate',
    parse: sizeOrOff,
    default: CONFIG_DEFAULTS.minBodyRate,
    shownDefault: '512',
  },
  {
    flags: '--body-rate-window <duration>',
    env: 'RESUMABLE_BODY_RATE_WINDOW',
    description: 'the window over which --min-body-rate is checked',
    key: 'bodyRateWindowMs',
    parse: parseDuration,
    default: CONFIG_DEFAULTS.bodyRateWindowMs,
    shownDefault: '60s',
  },
  {
    flags: '--min-body-average-rate <size>',
    env: 'RESUMABLE_MIN_BODY_AVERAGE_RATE',
    description: 'bytes per second a request body must average since it began, after the grace time (0: off)',
    key: 'minBodyAverageRate',
    parse: sizeOrOff,
    default: CONFIG_DEFAULTS.minBodyAverageRate,
    shownDefault: '4KiB',
  },
  {
    flags: '--body-rate-grace <duration>',
    env: 'RESUMABLE_BODY_RATE_GRACE',
    description: 'how long a request body may start slowly before --min-body-average-rate applies',
    key: 'bodyRateGraceMs',
    parse: parseDuration,
    default: CONFIG_DEFAULTS.bodyRateGraceMs,
    shownDefault: '10s',
  },
  {
    flags: '--max-connections <n>',
    env: 'RESUMABLE_MAX_CONNECTIONS',
    description: 'connections held at once per process (also kept below the open-files limit)',
    key: 'maxConnections',
    parse: parseCount,
    default: CONFIG_DEFAULTS.maxConnections,
  },
  {
    flags: '--max-connections-per-client <n>',
    env: 'RESUMABLE_MAX_CONNECTIONS_PER_CLIENT',
    description: 'connections held at once per client address, 429 beyond (0: no cap)',
    key: 'maxConnectionsPerClient',
    parse: countOrOff,
    default: CONFIG_DEFAULTS.maxConnectionsPerClient,
  },
  {
    flags: '--keep-alive-timeout <duration>',
    env: 'RESUMABLE_KEEP_ALIVE_TIMEOUT',
    description: 'close a keep-alive connection idle this long between requests',
    key: 'keepAliveTimeoutMs',
    parse: parseDuration,
    default: CONFIG_DEFAULTS.keepAliveTimeoutMs,
    shownDefault: '30s',
  },
  {
    flags: '--header-timeout <duration>',
    env: 'RESUMABLE_HEADER_TIMEOUT',
    description: "a request's headers must all arrive within this",
    key: 'headerTimeoutMs',
    parse: parseDuration,
    default: CONFIG_DEFAULTS.headerTimeoutMs,
    shownDefault: '60s',
  },
  {
    flags: '--idle-timeout <duration>',
    env: 'RESUMABLE_IDLE_TIMEOUT',
    description: 'close a connection with no byte either way for this long',
    key: 'idleTimeoutMs',
    parse: parseDuration,
    default: CONFIG_DEFAULTS.idleTimeoutMs,
    shownDefault: '2m',
  },
  {
    flags: '--trust-proxy <list>',
    env: 'RESUMABLE_TRUST_PROXY',
    description:
      'proxies whose X-Forwarded-For names the client: comma-separated addresses, CIDRs or loopback (default: none)',
    key: 'trustProxy',
    parse: (value) => parseList(value).map(parseTrustedProxy),
  },
  {
    flags: '--expire-after <duration>',
    env: 'RESUMABLE_EXPIRE_AFTER',
    description: 'delete incomplete uploads idle this long',
    key: 'expireAfterMs',
    parse: parseDuration,
    default: CONFIG_DEFAULTS.expireAfterMs,
    shownDefault: '24h',
  },
  {
    flags: '--expire-published <duration>',
    env: 'RESUMABLE_EXPIRE_PUBLISHED',
    description: 'delete published files this long after publication (0: never)',
    key: 'expirePublishedMs',
    parse: durationOrOff,
    default: CONFIG_DEFAULTS.expirePublishedMs,
    shownDefault: '0',
  },
  {
    flags: '--max-file-size <size>',
    env: 'RESUMABLE_MAX_FILE_SIZE',
    description: 'largest file an upload may make (413 past it)',
    key: 'maxFileSize',
    parse: parseSize,
    default: CONFIG_DEFAULTS.maxFileSize,
    shownDefault: '64GiB',
  },
  {
    flags: '--max-open-uploads <n>',
    env: 'RESUMABLE_MAX_OPEN_UPLOADS',
    description: 'incomplete uploads at once, from everyone (429 past it)',
    key: 'maxOpenUploads',
    parse: parseCount,
    default: CONFIG_DEFAULTS.maxOpenUploads,
  },
  {
    flags: '--max-uploads-per-client <n>',
    env: 'RESUMABLE_MAX_UPLOADS_PER_CLIENT',
    description: 'incomplete uploads at once, from one client address (429 past it)',
    key: 'maxUploadsPerClient',
    parse: parseCount,
    default: CONFIG_DEFAULTS.maxUploadsPerClient,
  },
  {
    flags: '--max-incomplete-bytes <size>',
    env: 'RESUMABLE_MAX_INCOMPLETE_BYTES',
    description: 'bytes held by incomplete uploads, from everyone (507 past it)',
    key: 'maxIncompleteBytes',
    parse: parseSize,
    default: CONFIG_DEFAULTS.maxIncompleteBytes,
    shownDefault: '256GiB',
  },
  {
    flags: '--max-incomplete-bytes-per-client <size>',
    env: 'RESUMABLE_MAX_INCOMPLETE_BYTES_PER_CLIENT',
    description: 'bytes held by the incomplete uploads of one client address (507 past it)',
    key: 'maxIncompleteBytesPerClient',
    parse: parseSize,
    default: CONFIG_DEFAULTS.maxIncompleteBytesPerClient,
    shownDefault: '64GiB',
  },
  {
    flags: '--reserve <size>',
    env: 'RESUMABLE_RESERVE',
    description: 'free space kept on the data disk: uploads answer 507 before eating into it',
    key: 'reserveBytes',
    parse: sizeOrOff,
    shownDefault: 'min(1GiB, 5% of the disk)',
  },
  {
    flags: '--cache-size <size>',
    env: 'RESUMABLE_CACHE_SIZE',
    description: 'memory for cached upload state (plans, chunk indexes)',
    key: 'cacheBytes',
    parse: parseSize,
    default: CONFIG_DEFAULTS.cacheBytes,
    shownDefault: '64MiB',
  },
  {
    flags: '--max-handshake-bytes <size>',
    env: 'RESUMABLE_MAX_HANDSHAKE_BYTES',
    description: 'largest handshake body (default: what a plan of --max-chunks ids needs, at most 8MiB)',
    key: 'maxHandshakeBytes',
    parse: parseSize,
  },
  {
    flags: '--chunk-answer-bytes-per-id <size>',
    env: 'RESUMABLE_CHUNK_ANSWER_BYTES_PER_ID',
    description: 'a chunk answer lists one needed id per this many bytes of the chunk',
    key: 'chunkAnswerBytesPerId',
    parse: parseSize,
    default: CONFIG_DEFAULTS.chunkAnswerBytesPerId,
  },
  {
    flags: '--state-page-limit <n>',
    env: 'RESUMABLE_STATE_PAGE_LIMIT',
    description: 'most ids per list in one page of GET /api/upload/<id>',
    key: 'statePageLimit',
    parse: parseCount,
    default: CONFIG_DEFAULTS.statePageLimit,
  },
  {
    flags: '--library <dirs>',
    env: 'RESUMABLE_LIBRARY',
    description:
      'folders served under /download, comma-separated (default: <data>/library with the sample wallpapers)',
    key: 'libraryDirs',
    parse: parseList,
  },
  {
    flags: '--storage <kind>',
    env: 'RESUMABLE_STORAGE',
    description: 'where uploads live: local (the data folder) or s3',
    key: 'storage.kind',
    choices: ['local', 's3'],
    default: 'local',
  },
  {
    flags: '--s3-endpoint <url>',
    env: 'RESUMABLE_S3_ENDPOINT',
    description: 'S3-compatible endpoint (Ceph, MinIO); default AWS',
    key: 'storage.endpoint',
    parse: parseHttpUrl,
  },
  {
    flags: '--s3-bucket <name>',
    env: 'RESUMABLE_S3_BUCKET',
    description: 'bucket (created at start if missing)',
    key: 'storage.bucket',
  },
  {
    flags: '--s3-region <region>',
    env: 'RESUMABLE_S3_REGION',
    description: 'region',
    key: 'storage.region',
    default: 'us-east-1',
  },
  {
    flags: '--s3-prefix <prefix>',
    env: 'RESUMABLE_S3_PREFIX',
    description: 'key prefix',
    key: 'storage.prefix',
    default: 'resumable-transfer/',
  },
  {
    flags: '--s3-access-key <id>',
    env: 'RESUMABLE_S3_ACCESS_KEY',
    description: 'access key id (default: AWS_ACCESS_KEY_ID and the AWS chain)',
    key: 'storage.accessKeyId',
  },
  {
    flags: '--s3-secret-key <secret>',
    env: 'RESUMABLE_S3_SECRET_KEY',
    description: 'secret key (default: AWS_SECRET_ACCESS_KEY)',
    key: 'storage.secretAccessKey',
  },
  {
    flags: '--auth <mode>',
    env: 'RESUMABLE_AUTH',
    description:
      'access control: none, token (bearer tokens: --auth-tokens-file) or signed (upload tokens: --auth-secret-file, `resumable token sign`)',
    key: 'auth',
    choices: ['none', 'token', 'signed'],
    default: CONFIG_DEFAULTS.auth,
  },
  {
    flags: '--auth-tokens-file <file>',
    env: 'RESUMABLE_AUTH_TOKENS_FILE',
    description: 'with --auth token: bearer tokens, one per line, optionally name:token',
    key: 'authTokensFile',
  },
  {
    flags: '--auth-tokens <list>',
    env: 'RESUMABLE_AUTH_TOKENS',
    description:
      'with --auth token: comma-separated tokens (prefer the environment variable: a flag shows in ps)',
    key: 'authTokens',
    parse: parseList,
  },
  {
    flags: '--auth-secret-file <file>',
    env: 'RESUMABLE_AUTH_SECRET_FILE',
    description: 'with --auth signed: the file holding the signing secret (at least 32 bytes)',
    key: 'authSecretFile',
  },
  {
    flags: '--auth-secret <secret>',
    env: 'RESUMABLE_AUTH_SECRET',
    description: 'with --auth signed: the signing secret (prefer the environment variable or the file)',
    key: 'authSecret',
  },
  {
    flags: '--allowed-hosts <hosts>',
    env: 'RESUMABLE_ALLOWED_HOSTS',
    description:
      'Host values links may be built from, comma-separated (name or name:port; default: loopback and the bound address)',
    key: 'allowedHosts',
    parse: parseList,
  },
  {
    flags: '--user-content-origin <url>',
    env: 'RESUMABLE_USER_CONTENT_ORIGIN',
    description:
      'origin of the /upload/ links: a separate host name for uploaded files, served by this server',
    key: 'userContentOrigin',
    parse: parseHttpUrl,
  },
  {
    flags: '--frame-ancestors <sources>',
    env: 'RESUMABLE_FRAME_ANCESTORS',
    description: 'who may frame the web page (CSP frame-ancestors)',
    key: 'frameAncestors',
    default: CONFIG_DEFAULTS.frameAncestors,
  },
  {
    flags: '--web-dir <dir>',
    env: 'RESUMABLE_WEB_DIR',
    description: 'the built web page to serve at /',
    key: 'webDir',
    default: defaultWebDir(),
    shownDefault: 'the built page',
  },
  {
    flags: '--workers <n>',
    env: 'RESUMABLE_WORKERS',
    description: 'processes serving the port: a number or auto (one per core); one of them handles uploads',
    key: 'workers',
    parse: parseWorkers,
    default: 1,
  },
  {
    flags: '--metrics <access>',
    env: 'RESUMABLE_METRICS',
    description: 'who may read /metrics (Prometheus): loopback clients, everyone (on) or nobody (off)',
    key: 'metrics',
    choices: ['loopback', 'on', 'off'],
    default: CONFIG_DEFAULTS.metrics,
  },
  {
    flags: '--log-level <level>',
    env: 'RESUMABLE_LOG_LEVEL',
    description: 'fatal|error|warn|info|debug|silent',
    key: 'logLevel',
    default: CONFIG_DEFAULTS.logLevel,
  },
];

/** The options as commander's, each reading its environment variable. */
export function serveOptions(): Option[] {
  return SERVE_OPTIONS.map((spec) => {
    const option = new Option(spec.flags, spec.description).env(spec.env);
    if (spec.parse) option.argParser(optionParser(spec.parse));
    if (spec.choices) option.choices(spec.choices);
    if (spec.default !== undefined) option.default(spec.default, spec.shownDefault);
    return option;
  });
}

/**
 * Commander's values (from flags, environment, defaults) laid out as the server configuration's
 * input, plus `workers`. Local disk under --data is the default storage: the s3 options, and
 * their defaults, count only with --storage s3.
 */
export function configInput(values: Record<string, unknown>): {
  workers: unknown;
  server: Record<string, unknown>;
} {
  const server: Record<string, unknown> = {};
  const storage: Record<string, unknown> = {};
  let workers: unknown;
  for (const spec of SERVE_OPTIONS) {
    const value = values[new Option(spec.flags).attributeName()];
    if (value === undefined) continue;
    if (spec.key === 'workers') workers = value;
    else if (spec.key.startsWith('storage.')) storage[spec.key.slice('storage.'.length)] = value;
    else server[spec.key] = value;
  }
  if (storage.kind === 's3') server.storage = storage;
  return { workers, server };
}

/** The option behind a configuration field (`storage.bucket` → --s3-bucket), to name it in errors. */
export function optionNamed(path: readonly PropertyKey[]): string | undefined {
  const key = path.map(String).join('.');
  const spec = SERVE_OPTIONS.find((s) => s.key === key);
  return spec && `option '${spec.flags}' (or ${spec.env})`;
}
