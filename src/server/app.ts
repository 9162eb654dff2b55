/**
 * The HTTP server: a thin router over node:http. node:http rather than a framework because
 * every route here streams (multipart chunks in, ranges out) and the Range route competes with
 * nginx; a framework's body parsing and reply helpers would be bypassed on every route anyway.
 */
import {
  createServer,
  type IncomingMessage,
  type Server,
  type ServerResponse,
  STATUS_CODES,
} from 'node:http';
import type { AddressInfo } from 'node:net';
import { join, resolve } from 'node:path';
import type { Duplex } from 'node:stream';
import { UploadService } from '../core/upload-service.js';
import { Cors } from '../http/cors.js';
import { forwarder } from '../http/forward.js';
import { lingerOnUnreadBody } from '../http/linger.js';
import { sendError, sendJson } from '../http/respond.js';
import { fail, ok } from '../protocol/envelope.js';
import { type ErrorCode, TransferError } from '../protocol/errors.js';
import {
  abandonRoute,
  chunkRoute,
  handshakeRoute,
  stateRoute,
  type UploadApiContext,
} from '../protocols/seed/routes.js';
import { createStorage } from '../storage/create-storage.js';
import type { Storage } from '../storage/storage.js';
import { DEFAULT_CONFIG, type ServerConfig } from './config.js';
import { Library } from './library.js';
import { createLogger, type Logger } from './logger.js';
import { downloadRoute, uploadedFileRoute } from './routes/files.js';
import { homeRoute } from './routes/home.js';
import { webRoute } from './routes/web.js';
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

/**
 * Slow-loris bodies: a trickle of bytes defeats an idle timeout. Every window, the socket must
 * have received minRate bytes per second (Apache's mod_reqtimeout minrate); else 408 and close.
 * It watches socket.bytesRead, so it never touches the body stream the route is reading.
 */
function guardBodyRate(req: IncomingMessage, res: ServerResponse, config: ServerConfig): void {
  if (config.minBodyRate <= 0 || req.method === 'GET' || req.method === 'HEAD' || req.complete) return;
  const socket = req.socket;
  let last = socket.bytesRead;
  const timer = setInterval(() => {
    if (req.complete || res.writableEnded) {
      clearInterval(timer);
      return;
    }
    const now = socket.bytesRead;
    if (now - last < (config.minBodyRate * config.bodyRateWindowMs) / 1000) {
      clearInterval(timer);
      res.setHeader('Connection', 'close');
      sendError(req, res, new TransferError('BODY_TOO_SLOW'));
      res.once('finish', () => socket.destroy());
      setTimeout(() => socket.destroy(), 1000).unref();
    }
    last = now;
  }, config.bodyRateWindowMs);
  timer.unref();
  res.once('close', () => clearInterval(timer));
}

/**
 * Requests node:http cannot parse never reach a route; it would answer them with a bare 400.
 * Answer with the envelope instead (Chinese: no headers could be read to choose a language).
 */
function answerClientError(err: NodeJS.ErrnoException, socket: Duplex): void {
  if (!socket.writable || (err as { code?: string }).code === 'ECONNRESET') {
    socket.destroy();
    return;
  }
  const code: ErrorCode =
    err.code === 'HPE_HEADER_OVERFLOW'
      ? 'HEADERS_TOO_LARGE'
      : err.code === 'ERR_HTTP_REQUEST_TIMEOUT'
        ? 'BODY_TOO_SLOW'
        : 'MALFORMED_REQUEST';
  const te = new TransferError(code);
  const body = JSON.stringify(fail(te, 'zh'));
  socket.end(
    `HTTP/1.1 ${te.status} ${STATUS_CODES[te.status] ?? 'Error'}\r\n` +
      'Content-Type: application/json; charset=utf-8\r\n' +
      `Content-Length: ${Buffer.byteLength(body)}\r\nCache-Control: no-store\r\nConnection: close\r\n\r\n${body}`,
  );
}

const HOST_HEADER = /^[A-Za-z0-9.-]+(?::\d{1,5})?$|^\[[0-9A-Fa-f:.]+\](?::\d{1,5})?$/;

export async function startServer(
  overrides: Partial<ServerConfig> = {},
  options: { storage?: Storage; logger?: Logger } = {},
): Promise<RunningServer> {
  const config: ServerConfig = { ...DEFAULT_CONFIG, ...overrides };
  const base = options.logger ?? createLogger(config.logLevel);
  const logger = config.role === 'single' ? base : base.child({ worker: config.role, pid: process.pid });
  const dataDir = resolve(config.dataDir);
  const storage =
    options.storage ?? (await createStorage({ kind: 'local', dataDir, cacheBytes: config.cacheBytes }));
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
  const forward = reader ? forwarder(config.ownerSocket!) : undefined;
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
  });
  const cors = new Cors(config.corsOrigin);
  let listening: AddressInfo | undefined;
  let stopping = false;

  const baseUrl = (req: IncomingMessage): string => {
    if (config.publicUrl) return config.publicUrl.replace(/\/+$/, '');
    const host = req.headers.host;
    if (host && HOST_HEADER.test(host)) return `http://${host}`;
    return `http://${config.host}:${listening?.port ?? config.port}`;
  };
  const ctx: UploadApiContext = {
    service,
    fileUrl: (req, fileId, ext) => `${baseUrl(req)}/upload/${fileId}${ext}`,
  };

  async function route(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const method = req.method ?? 'GET';
    const rawUrl = req.url ?? '/';
    const q = rawUrl.indexOf('?');
    const path = q < 0 ? rawUrl : rawUrl.slice(0, q);
    const query = new URLSearchParams(q < 0 ? '' : rawUrl.slice(q + 1));
    const isApi = path.startsWith('/api/');
    const bytes = path.startsWith('/download/') || path.startsWith('/upload/');
    if (isApi || bytes) {
      if (method === 'OPTIONS') {
        cors.preflight(req, res);
        return;
      }
      // The byte routes write their CORS headers with all the others in one writeHead.
      if (!bytes) cors.apply(req, res);
    }
    if (stopping) {
      res.setHeader('Connection', 'close');
      throw new TransferError('SHUTTING_DOWN');
    }
    const read = method === 'GET' || method === 'HEAD';
    if (bytes) {
      try {
        if (!read) throw new TransferError('METHOD_NOT_ALLOWED');
        const corsHeaders = cors.headers(req);
        return path.startsWith('/download/')
          ? await downloadRoute(library, req, res, path.slice('/download/'.length), corsHeaders)
          : await uploadedFileRoute(storage, req, res, path.slice('/upload/'.length), corsHeaders);
      } catch (err: unknown) {
        // An error answer (404, 405...) carries CORS too, unless the answer had already begun.
        if (!res.headersSent) cors.apply(req, res);
        throw err;
      }
    }
    if (forward && (path === '/api/upload' || path.startsWith('/api/upload/'))) return forward(req, res);
    if (path === '/api/upload/handshake') {
      if (method !== 'POST') throw new TransferError('METHOD_NOT_ALLOWED');
      return handshakeRoute(ctx, req, res);
    }
    if (path === '/api/upload') {
      if (method !== 'POST') throw new TransferError('METHOD_NOT_ALLOWED');
      return chunkRoute(ctx, req, res, query);
    }
    if (path.startsWith('/api/upload/')) {
      const id = path.slice('/api/upload/'.length);
      if (method === 'GET') return stateRoute(ctx, req, res, id);
      if (method === 'DELETE') return abandonRoute(ctx, res, id);
      throw new TransferError('METHOD_NOT_ALLOWED');
    }
    if (path === '/api/files') {
      if (!read) throw new TransferError('METHOD_NOT_ALLOWED');
      sendJson(res, 200, ok(await library.list(baseUrl(req))));
      return;
    }
    if (path === '/api/health') {
      // With --workers, which process answered (the connection decides: see workers.ts).
      const worker = config.role === 'single' ? {} : { worker: config.role, pid: process.pid };
      sendJson(res, 200, ok({ status: 'ok', ...worker }));
      return;
    }
    if (!isApi && read && (await webRoute(config.webDir, req, res, path))) return;
    if (path === '/' && read) {
      homeRoute(res, await library.list(baseUrl(req)), method);
      return;
    }
    throw new TransferError('NOT_FOUND');
  }

  // The request line is logged at info; below that level no listener is added per request.
  const logRequests = logger.isLevelEnabled('info');
  const handle = (req: IncomingMessage, res: ServerResponse) => {
    const started = performance.now();
    if (logRequests)
      res.on('close', () => {
        logger.info(
          {
            method: req.method,
            url: (req.url ?? '').slice(0, 300),
            status: res.statusCode,
            ms: Math.round(performance.now() - started),
            bytes: Number(res.getHeader('content-length') ?? 0),
            complete: res.writableFinished,
          },
          'request',
        );
      });
    guardBodyRate(req, res, config);
    route(req, res).catch((err: unknown) => {
      if (!req.complete) lingerOnUnreadBody(req, res);
      const te = sendError(req, res, err);
      if (te.code === 'INTERNAL') logger.error({ err, url: req.url }, 'unexpected error');
    });
  };
  const newServer = () => {
    const s = createServer({ requestTimeout: 0, headersTimeout: 60_000, keepAliveTimeout: 30_000 }, handle);
    s.on('clientError', answerClientError);
    // Silent connections: 2 minutes without a byte ends them (trickles: guardBodyRate).
    s.setTimeout(120_000, (socket) => socket.destroy());
    return s;
  };
  const server = newServer();
  // The owner also answers the readers' forwarded upload requests, on its own local socket
  // (exclusive: not shared through the cluster's primary like the public port).
  const internal = config.role === 'owner' && config.ownerSocket ? newServer() : undefined;
  if (internal) {
    await new Promise<void>((resolveListen, reject) => {
      internal.once('error', reject);
      internal.listen({ path: config.ownerSocket, exclusive: true }, () => {
        internal.off('error', reject);
        resolveListen();
      });
    });
  }

  await new Promise<void>((resolveListen, reject) => {
    server.once('error', reject);
    server.listen(config.port, config.host, () => {
      server.off('error', reject);
      resolveListen();
    });
  });
  listening = server.address() as AddressInfo;
  const host = listening.family === 'IPv6' ? `[${listening.address}]` : listening.address;

  const sweepEvery = Math.max(1000, Math.min(config.expireAfterMs / 4, 10 * 60 * 1000));
  // Expiry is the uploads' owner's job.
  const sweeper = reader
    ? undefined
    : setInterval(() => {
        service
          .sweep(config.expireAfterMs)
          .then((r) => {
            if (r.uploads || r.temp) logger.info(r, 'swept expired uploads and temp files');
          })
          .catch((err: unknown) => logger.error({ err }, 'sweep failed'));
      }, sweepEvery).unref();

  let closing: Promise<void> | undefined;
  const close = () => {
    closing ??= (async () => {
      stopping = true;
      clearInterval(sweeper);
      const servers = internal ? [server, internal] : [server];
      const done = Promise.all(servers.map((s) => new Promise<void>((r) => s.close(() => r()))));
      for (const s of servers) s.closeIdleConnections();
      const timer = setTimeout(() => {
        for (const s of servers) s.closeAllConnections();
      }, config.shutdownGraceMs);
      await done;
      clearTimeout(timer);
      await storage.close();
    })();
    return closing;
  };

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
