/**
 * The server's composition: its parts (storage, library, upload service), their routes, the
 * request pipeline (src/http/pipeline.ts) over node:http, the expiry sweeper and the graceful
 * close. node:http rather than a framework because every route here streams (multipart chunks in,
 * ranges out) and the Range route competes with nginx; a framework's body parsing and reply
 * helpers would be bypassed on every route anyway.
 */
import type { Server } from 'node:http';
import type { AddressInfo, ListenOptions } from 'node:net';
import { join, resolve } from 'node:path';
import { defaultInstantUpload } from '../core/context.js';
import { UploadService } from '../core/upload-service.js';
import { Cors } from '../http/cors.js';
import { forwarder } from '../http/forward.js';
import { createHttpServer } from '../http/pipeline.js';
import { Router } from '../http/router.js';
import { seedRouteTable } from '../protocols/seed/routes.js';
import { createStorage } from '../storage/create-storage.js';
import type { Storage } from '../storage/storage.js';
import { parseServerConfig, type ServerConfig } from './config.js';
import { Library } from './library.js';
import { createLogger, type Logger } from './logger.js';
import { type BaseUrl, baseUrlFor } from './routes/base-url.js';
import { serverRouteTable } from './routes/table.js';
import { ensureWallpapers } from './wallpapers.js';

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
  /** A `--workers` reader: forwards the upload API to the owner, never touches upload state. */
  reader: boolean;
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
    config.storage.kind === 'local' ? { ...config.storage, cacheBytes: config.cacheBytes } : config.storage;
  const storage = options.storage ?? (await createStorage(storageConfig));
  const reader = config.role === 'reader';
  if (reader && !config.ownerSocket) throw new Error('a reader needs the owner socket to forward uploads to');
  // A reader starts after the owner did all this, and must not: init clears the owner's temp files.
  if (!reader) await storage.init();
  let libraryDirs = config.libraryDirs;
  if (!libraryDirs) {
    const dir = join(dataDir, 'library');
    const created = reader ? [] : await ensureWallpapers(dir);
    if (created.length > 0) logger.info({ dir, created: created.length }, 'generated sample wallpapers');
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
  return { config, logger, storage, library, service, reader };
}

/** Every protocol's routes and the server's own. */
function buildRouter(parts: Parts, baseUrl: BaseUrl): Router {
  const seed = seedRouteTable({
    service: parts.service,
    fileUrl: (req, fileId, ext) => `${baseUrl(req)}/upload/${fileId}${ext}`,
    limits: {
      maxHandshakeBytes: parts.config.maxHandshakeBytes ?? undefined,
      chunkAnswerBytesPerId: parts.config.chunkAnswerBytesPerId,
      statePageLimit: parts.config.statePageLimit,
    },
  });
  return new Router([seed, serverRouteTable({ ...parts, baseUrl })]);
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
function startSweeper({ config, service, logger, reader }: Parts): NodeJS.Timeout | undefined {
  if (reader) return undefined;
  const sweepEvery = Math.max(1000, Math.min(config.expireAfterMs / 4, 10 * 60 * 1000));
  return setInterval(() => {
    service
      .sweep(config.expireAfterMs)
      .then((r) => {
        if (r.uploads || r.temp) logger.info(r, 'swept expired uploads and temp files');
      })
      .catch((err: unknown) => logger.error({ err }, 'sweep failed'));
  }, sweepEvery).unref();
}

/**
 * Stops taking connections, lets running requests finish (cut after the grace time), then closes
 * the storage. `stopping` makes the pipeline refuse requests on connections still open.
 */
async function closeGracefully(servers: Server[], parts: Parts): Promise<void> {
  const done = Promise.all(servers.map((s) => new Promise<void>((r) => s.close(() => r()))));
  for (const s of servers) s.closeIdleConnections();
  const timer = setTimeout(() => {
    for (const s of servers) s.closeAllConnections();
  }, parts.config.shutdownGraceMs);
  await done;
  clearTimeout(timer);
  await parts.storage.close();
}

export async function startServer(
  overrides: Partial<ServerConfig> = {},
  options: { storage?: Storage; logger?: Logger } = {},
): Promise<RunningServer> {
  const parts = await buildParts(overrides, options);
  const { config } = parts;
  let listening: AddressInfo | undefined;
  let stopping = false;
  const pipeline = {
    router: buildRouter(
      parts,
      baseUrlFor(config, () => listening?.port),
    ),
    cors: new Cors(config.corsOrigin),
    logger: parts.logger,
    bodyRate: config,
    forward: parts.reader && config.ownerSocket ? forwarder(config.ownerSocket) : undefined,
    stopping: () => stopping,
  };
  const server = createHttpServer(pipeline);
  // The owner also answers the readers' forwarded upload requests, on its own local socket
  // (exclusive: not shared through the cluster's primary like the public port).
  const ownerSocket = config.role === 'owner' ? config.ownerSocket : null;
  const internal = ownerSocket ? createHttpServer(pipeline) : undefined;
  if (internal) await listen(internal, { path: ownerSocket ?? undefined, exclusive: true });
  await listen(server, { port: config.port, host: config.host });
  listening = server.address() as AddressInfo;
  const host = listening.family === 'IPv6' ? `[${listening.address}]` : listening.address;
  const sweeper = startSweeper(parts);

  let closing: Promise<void> | undefined;
  const close = () => {
    stopping = true;
    clearInterval(sweeper);
    closing ??= closeGracefully(internal ? [server, internal] : [server], parts);
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
