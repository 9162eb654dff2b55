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
    flags: '--expire-after <duration>',
    env: 'RESUMABLE_EXPIRE_AFTER',
    description: 'delete incomplete uploads idle this long',
    key: 'expireAfterMs',
    parse: parseDuration,
    default: CONFIG_DEFAULTS.expireAfterMs,
    shownDefault: '24h',
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
    flags: '--log-level <level>',
    env: 'RESUMABLE_LOG_LEVEL',
    description: 'fatal|error|warn|info|debug|silent',
    key: 'logLevel',
    default: CONFIG_DEFAULTS.logLevel,
  },
  {
    flags: '--max-sessions-per-upload <n>',
    env: 'RESUMABLE_MAX_SESSIONS_PER_UPLOAD',
    description: 'upload sessions (one per requester) one file may have at once',
    key: 'maxSessionsPerUpload',
    parse: parseCount,
    default: CONFIG_DEFAULTS.maxSessionsPerUpload,
  },
  {
    flags: '--max-proof-challenges <n>',
    env: 'RESUMABLE_MAX_PROOF_CHALLENGES',
    description: 'instant-upload proof challenges kept at once (the oldest are forgotten)',
    key: 'maxProofChallenges',
    parse: parseCount,
    default: CONFIG_DEFAULTS.maxProofChallenges,
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
