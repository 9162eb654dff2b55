/**
 * The server's composition: its parts (storage, library, upload service), their routes, the
 * request pipeline (src/http/pipeline.ts) over node:http, the expiry sweeper and the graceful
 * close. node:http rather than a framework because every route here streams (multipart chunks in,
 * ranges out) and the Range route competes with nginx; a framework's body parsing and reply
 * helpers would be bypassed on every route anyway.
 */
import type { IncomingMessage, Server } from 'node:http';
import type { AddressInfo, ListenOptions, Server as NetServer } from 'node:net';
import { join, resolve } from 'node:path';
import { defaultInstantUpload, type InstantUploadPolicy } from '../core/context.js';
import { StreamService } from '../core/stream-service.js';
import { UploadService } from '../core/upload-service.js';
import { builtInAuthorizer } from '../http/auth/built-in.js';
import type { Authorize } from '../http/auth/types.js';
import { trustedProxies } from '../http/client-address.js';
import { ConnectionGate, effectiveMaxConnections } from '../http/connections.js';
import { Cors } from '../http/cors.js';
import { forwarder } from '../http/forward.js';
import { listenShared } from '../http/listeners.js';
import { createHttpServer, type PipelineParts } from '../http/pipeline.js';
import { Router } from '../http/router.js';
import { TransferError } from '../protocol/errors.js';
import { seedRouteTable } from '../protocols/seed/routes.js';
import { resumableRouteTable } from '../protocols/tus/routes.js';
import { createStorage } from '../storage/create-storage.js';
import type { Storage } from '../storage/storage.js';
import type { StreamDone } from '../storage/stream-store.js';
import { parseServerConfig, type ServerConfig } from './config.js';
import { Library } from './library.js';
import { createLogger, type Logger } from './logger.js';
import { ServerMetrics } from './metrics.js';
import { type BaseUrl, baseUrlFor, uploadBaseFor } from './routes/base-url.js';
import { serverRouteTable } from './routes/table.js';
import { type LinkedFile, uploadLinkName } from './routes/upload-link.js';
import { prepareSampleLibrary, type SampleFill } from './sample-library.js';

export interface RunningServer {
  server: Server;
  service: UploadService;
  storage: Storage;
  config: ServerConfig;
  logger: Logger;
  /** http://host:port of the listening socket. */
  url: string;
  port: number;
  /** Graceful stop: no new requests, running ones finish (or are cut after the grace time). */
  close(): Promise<void>;
}

/** What the routes serve from. */
interface Parts {
  config: ServerConfig;
  logger: Logger;
  storage: Storage;
  library: Library;
  service: UploadService;
  /** tus and IETF resumable uploads, beside the seed plans (same storage, caps and files). */
  streams: StreamService;
  /** A `--workers` reader: forwards the upload API to the owner, never touches upload state. */
  reader: boolean;
  metrics: ServerMetrics;
  /** Starts writing the sample wallpapers (the default library), once the port is open. */
  fillSamples?: () => SampleFill;
}

async function buildParts(
  overrides: Partial<ServerConfig>,
  options: { storage?: Storage; logger?: Logger },
): Promise<Parts> {
  const config: ServerConfig = parseServerConfig(overrides);
  const base = options.logger ?? createLogger(config.logLevel);
  const logger = config.role === 'single' ? base : base.child({ worker: config.role, pid: process.pid });
  const dataDir = resolve(config.dataDir);
  // The local disk's caches share one byte budget (an outsider can make them grow).
  const storageConfig =
    config.storage.kind === 'local'
      ? {
          ...config.storage,
          cacheBytes: config.cacheBytes,
          durability: config.durability,
          warn: (message: string, err?: unknown) => logger.warn({ err }, message),
        }
      : config.storage;
  const storage = options.storage ?? (await createStorage(storageConfig));
  const reader = config.role === 'reader';
  if (reader && !config.ownerSocket) throw new Error('a reader needs the owner socket to forward uploads to');
  // A reader starts after the owner did all this, and must not: init clears the owner's temp files.
  if (!reader) await storage.init();
  let libraryDirs = config.libraryDirs;
  let fillSamples: Parts['fillSamples'];
  if (!libraryDirs) {
    const dir = join(dataDir, 'library');
    // A reader serves the folder its owner fills.
    if (!reader) fillSamples = await prepareSampleLibrary(dir, logger);
    libraryDirs = [dir];
  }
  const library = new Library(libraryDirs.map((d) => resolve(d)));
  await library.init();
  const service = new UploadService(storage, {
    maxChunkSize: config.maxChunkSize,
    maxChunks: config.maxChunks,
    maxFileSize: config.maxFileSize,
    maxOpenUploads: config.maxOpenUploads,
    maxUploadsPerClient: config.maxUploadsPerClient,
    maxIncompleteBytes: config.maxIncompleteBytes,
    maxIncompleteBytesPerClient: config.maxIncompleteBytesPerClient,
    reserveBytes: config.reserveBytes,
    expirePublishedMs: config.expirePublishedMs,
    maxSessionsPerUpload: config.maxSessionsPerUpload,
    instantUpload: config.instantUpload ?? defaultInstantUpload(config.host),
    maxProofChallenges: config.maxProofChallenges,
  });
  const streams = new StreamService(service.shared, {
    expireAfterMs: config.expireAfterMs,
    lockIdleMs: config.streamLockIdleMs,
    doneTtlMs: config.streamDoneTtlMs,
  });
  return {
    config,
    logger,
    storage,
    library,
    service,
    reader,
    streams,
    fillSamples,
    metrics: new ServerMetrics(service, streams),
  };
}

/**
 * The link name of a file the seed protocol answers. Under instant upload 'proof'/'off' a file
 * without a recorded SHA-256 has none, and never reaches an answer: those policies do not
 * challenge for it, and assembly publishes a copy with its SHA-256 instead (needsSha256).
 */
function sealedLinkName(policy: InstantUploadPolicy, file: LinkedFile, ext: string): string {
  const name = uploadLinkName(policy, file, ext);
  if (name === null) throw new TransferError('INTERNAL', 'a file without a recorded SHA-256 has no link');
  return name;
}

/** Every protocol's routes and the server's own. */
function buildRouter(parts: Parts, baseUrl: BaseUrl, guarded: boolean): Router {
  const uploadBase = uploadBaseFor(parts.config, baseUrl);
  const policy = parts.service.limits.instantUpload;
  const seed = seedRouteTable({
    service: parts.service,
    fileUrl: (req, file, ext) => `${uploadBase(req)}/upload/${sealedLinkName(policy, file, ext)}`,
    limits: {
      maxHandshakeBytes: parts.config.maxHandshakeBytes ?? undefined,
      chunkAnswerBytesPerId: parts.config.chunkAnswerBytesPerId,
      statePageLimit: parts.config.statePageLimit,
    },
  });
  const fileUrl = (req: IncomingMessage, done: StreamDone) => {
    const name = uploadLinkName(policy, { key: done.fileId, sha256: done.sha256 ?? null }, done.ext);
    return name === null ? null : `${baseUrl(req)}/upload/${name}`;
  };
  const resumable = parts.config.tusPath
    ? resumableRouteTable({
        streams: parts.streams,
        path: parts.config.tusPath,
        baseUrl,
        fileUrl,
        cors: new Cors(parts.config.corsOrigin),
        onError: (err, req) => parts.logger.error({ err, url: req.url }, 'unexpected error'),
      })
    : [];
  return new Router([
    seed,
    resumable,
    serverRouteTable({ ...parts, baseUrl, guarded, instantUpload: policy }),
  ]);
}

function listen(server: Server, where: ListenOptions): Promise<void> {
  return new Promise<void>((resolveListen, reject) => {
    server.once('error', reject);
    server.listen(where, () => {
      server.off('error', reject);
      resolveListen();
    });
  });
}

/** Deletes expired uploads and temp files now and then; expiry is the uploads' owner's job. */
function startSweeper({ config, service, streams, logger, reader }: Parts): NodeJS.Timeout | undefined {
  if (reader) return undefined;
  const sweepEvery = Math.max(1000, Math.min(config.expireAfterMs / 4, 10 * 60 * 1000));
  return setInterval(() => {
    service
      .sweep(config.expireAfterMs)
      .then((r) => {
        if (r.uploads || r.temp) logger.info(r, 'swept expired uploads and temp files');
      })
      .catch((err: unknown) => logger.error({ err }, 'sweep failed'));
    streams
      .sweep()
      .then((n) => {
        if (n) logger.info({ streams: n }, 'swept expired tus/IETF uploads');
      })
      .catch((err: unknown) => logger.error({ err }, 'stream sweep failed'));
  }, sweepEvery).unref();
}

/**
 * Stops taking connections, lets running requests finish (cut after the grace time), then closes
 * the storage. `stopping` makes the pipeline refuse requests on connections still open.
 */
async function closeGracefully(
  servers: Server[],
  parts: Parts,
  samples?: SampleFill,
  feeders: NetServer[] = [],
): Promise<void> {
  const samplesStopped = samples?.stop();
  // The feeders' connections are node:http's too: closed below with the others.
  const done = Promise.all([...servers, ...feeders].map((s) => new Promise<void>((r) => s.close(() => r()))));
  for (const s of servers) s.closeIdleConnections();
  const timer = setTimeout(() => {
    for (const s of servers) s.closeAllConnections();
  }, parts.config.shutdownGraceMs);
  await done;
  clearTimeout(timer);
  await samplesStopped;
  await parts.storage.close();
  parts.logger.info('stopped: running requests finished, storage closed');
}

export interface StartOptions {
  storage?: Storage;
  logger?: Logger;
  /**
   * Access control (src/http/auth/types.ts): asked before each upload request, /upload/ download
   * and /api/files; replaces the built-in `auth` modes of the configuration.
   */
  authorize?: Authorize;
}

export async function startServer(
  overrides: Partial<ServerConfig> = {},
  options: StartOptions = {},
): Promise<RunningServer> {
  // Access control first: a missing secret stops the start before any storage is touched.
  const settings = parseServerConfig(overrides);
  if (options.authorize && settings.auth !== 'none')
    throw new Error(`give either an authorize hook or auth: '${settings.auth}', not both`);
  const authorize = options.authorize ?? builtInAuthorizer(settings);
  const parts = await buildParts(overrides, options);
  const { config } = parts;
  let listening: AddressInfo | undefined;
  let stopping = false;
  const trusted = trustedProxies(config.trustProxy);
  const pipeline: PipelineParts = {
    router: buildRouter(
      parts,
      baseUrlFor(config, () => listening?.port),
      authorize !== undefined,
    ),
    cors: new Cors(config.corsOrigin),
    logger: parts.logger,
    bodyRate: config,
    forward: parts.reader && config.ownerSocket ? forwarder(config.ownerSocket) : undefined,
    stopping: () => stopping,
    gate: new ConnectionGate(
      {
        maxConnections: effectiveMaxConnections(config.maxConnections),
        maxConnectionsPerClient: config.maxConnectionsPerClient,
      },
      trusted,
    ),
    trustedProxies: trusted,
    timeouts: config,
    authorize,
    observer: parts.metrics,
  };
  const server = createHttpServer(pipeline);
  // The owner also answers the readers' forwarded upload requests, on its own local socket
  // (exclusive: not shared through the cluster's primary like the public port).
  const ownerSocket = config.role === 'owner' ? config.ownerSocket : null;
  const internal = ownerSocket ? createHttpServer({ ...pipeline, internal: true }) : undefined;
  if (internal) await listen(internal, { path: ownerSocket ?? undefined, exclusive: true });
  let feeders: NetServer[];
  try {
    feeders = await listenShared(server, config.port, config.host);
  } catch (err: unknown) {
    // The port is taken (EADDRINUSE) or refused: nothing of this server may keep the process up.
    internal?.close();
    await parts.storage.close().catch(() => undefined);
    throw err;
  }
  listening = server.address() as AddressInfo;
  const host = listening.family === 'IPv6' ? `[${listening.address}]` : listening.address;
  const sweeper = startSweeper(parts);
  // After listening: a cold cache renders for ~13 s, and the URLs are printed now.
  const samples = parts.fillSamples?.();

  let closing: Promise<void> | undefined;
  const close = () => {
    stopping = true;
    clearInterval(sweeper);
    closing ??= closeGracefully(internal ? [server, internal] : [server], parts, samples, feeders);
    return closing;
  };
  const { service, storage, logger } = parts;
  return {
    server,
    service,
    storage,
    config,
    logger,
    url: `http://${host}:${listening.port}`,
    port: listening.port,
    close,
  };
}
