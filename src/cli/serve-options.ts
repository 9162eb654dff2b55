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
  parseSwitch,
  parseWorkers,
} from '../config/values.js';
import type { ServerConfig } from '../server/config.js';
import { CONFIG_DEFAULTS } from '../server/config-defaults.js';
import { DEFAULT_REDIRECT_TTL_SECONDS } from '../storage/s3/limits.js';
import type { S3StorageOptions } from '../storage/s3/s3.js';
import { optionParser } from './parse.js';
import { ACCESS_OPTIONS } from './serve-access-options.js';
import { LIMIT_OPTIONS } from './serve-limit-options.js';

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
  ...LIMIT_OPTIONS,
  {
    flags: '--tus-path <path>',
    env: 'RESUMABLE_TUS_PATH',
    description: 'base path of the tus 1.0 and IETF resumable-upload endpoint (off: none)',
    key: 'tusPath',
    parse: (value: string) => (value === 'off' ? null : value),
    default: CONFIG_DEFAULTS.tusPath,
  },
  {
    flags: '--stream-lock-idle <duration>',
    env: 'RESUMABLE_STREAM_LOCK_IDLE',
    description: 'a tus/IETF append silent this long loses its upload to a newer request',
    key: 'streamLockIdleMs',
    parse: parseDuration,
    default: CONFIG_DEFAULTS.streamLockIdleMs,
    shownDefault: '10s',
  },
  {
    flags: '--stream-done-ttl <duration>',
    env: 'RESUMABLE_STREAM_DONE_TTL',
    description: 'a completed tus/IETF upload answers HEAD this long',
    key: 'streamDoneTtlMs',
    parse: parseDuration,
    default: CONFIG_DEFAULTS.streamDoneTtlMs,
    shownDefault: '1h',
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
    // A value of its own, so that RESUMABLE_S3_REDIRECT=off means off (commander turns a plain
    // switch on whenever its variable is set, whatever it says).
    flags: '--s3-redirect [on|off]',
    env: 'RESUMABLE_S3_REDIRECT',
    description:
      'answer GET/HEAD of /upload/ with a 302 to a presigned URL of the object: the store serves the bytes (docs/deploy-s3.md)',
    key: 'storage.redirect',
    parse: parseSwitch,
  },
  {
    flags: '--s3-redirect-ttl <duration>',
    env: 'RESUMABLE_S3_REDIRECT_TTL',
    description: "how long a redirect's URL is valid (a number is seconds; at most 7d)",
    key: 'storage.redirectTtlSeconds',
    parse: (value: string) => Math.ceil(parseDuration(value) / 1000),
    default: DEFAULT_REDIRECT_TTL_SECONDS,
    shownDefault: '300s',
  },
  {
    flags: '--s3-public-endpoint <url>',
    env: 'RESUMABLE_S3_PUBLIC_ENDPOINT',
    description: "the store's address as clients reach it, for the redirect's URLs (default: --s3-endpoint)",
    key: 'storage.publicEndpoint',
    parse: parseHttpUrl,
  },
  ...ACCESS_OPTIONS,
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
