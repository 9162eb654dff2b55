/**
 * The server's own routes, beside the protocols' (src/protocols/<name>/routes.ts): the byte
 * routes, /api/files, /api/health, /api/ready, /api/version, /metrics, and the web page (or the
 * plain index) for everything else.
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { InstantUploadPolicy } from '../../core/context.js';
import { ANY_METHOD, type Route, type RouteMatch } from '../../http/router.js';
import { TransferError } from '../../protocol/errors.js';
import type { Storage } from '../../storage/storage.js';
import type { ServerConfig } from '../config.js';
import type { Library } from '../library.js';
import type { ServerMetrics } from '../metrics.js';
import { filesRoute, healthRoute, readyRoute, versionRoute } from './api.js';
import type { BaseUrl } from './base-url.js';
import { downloadRoute, uploadedFileRoute } from './files.js';
import { homeRoute } from './home.js';
import { pageHeaders, webRoute } from './web.js';

export interface ServerRouteParts {
  config: ServerConfig;
  library: Library;
  storage: Storage;
  baseUrl: BaseUrl;
  /** Access control is on: uploads are private to caches. */
  guarded?: boolean;
  /** Under 'proof' and 'off' /upload/ serves capability links only (upload-link.ts). */
  instantUpload?: InstantUploadPolicy;
  metrics: ServerMetrics;
}

/** How long /api/ready waits for the store (a load balancer's probe waits a few seconds). */
const READY_TIMEOUT_MS = 2000;

function notFound(): never {
  throw new TransferError('NOT_FOUND');
}

export function serverRouteTable({
  config,
  library,
  storage,
  baseUrl,
  guarded,
  metrics,
  instantUpload = 'open',
}: ServerRouteParts): Route[] {
  const access = guarded ? 'private' : 'public';
  const headers = pageHeaders(config.frameAncestors);
  // The hot path: their CORS headers go into the one writeHead of serve-bytes.ts.
  const download = (req: IncomingMessage, res: ServerResponse, m: RouteMatch) =>
    downloadRoute(library, req, res, m.tail, m.corsHeaders);
  const uploaded = (req: IncomingMessage, res: ServerResponse, m: RouteMatch) =>
    uploadedFileRoute(storage, req, res, m.tail, m.corsHeaders, access, instantUpload);
  const files = (req: IncomingMessage, res: ServerResponse) => filesRoute(library, baseUrl(req), res);
  const page = async (req: IncomingMessage, res: ServerResponse, m: RouteMatch) => {
    if (await webRoute(config.webDir, req, res, m.path, headers)) return;
    if (m.path !== '/') notFound();
    homeRoute(res, await library.list(baseUrl(req)), req.method ?? 'GET');
  };
  const ready = (_req: IncomingMessage, res: ServerResponse) =>
    readyRoute(config, storage, res, READY_TIMEOUT_MS);
  const preferred = storage.preferredChunkSize;
  const limits = {
    maxChunkSize: config.maxChunkSize,
    maxChunks: config.maxChunks,
    ...(preferred !== undefined && preferred <= config.maxChunkSize ? { preferredChunkSize: preferred } : {}),
  };
  const version = (_req: IncomingMessage, res: ServerResponse) => versionRoute(res, limits);
  const scrape = (req: IncomingMessage, res: ServerResponse) => metrics.answer(config.metrics, req, res);
  return [
    // The library is public (the sample wallpapers, the operator's shared folders).
    { path: '/download/', prefix: true, methods: { GET: download, HEAD: download }, cors: 'inline' },
    {
      path: '/upload/',
      prefix: true,
      methods: { GET: uploaded, HEAD: uploaded },
      action: { GET: 'download-upload', HEAD: 'download-upload' },
      cors: 'inline',
    },
    {
      path: '/api/files',
      methods: { GET: files, HEAD: files },
      action: { GET: 'list', HEAD: 'list' },
      cors: 'set',
    },
    {
      path: '/api/health',
      methods: { [ANY_METHOD]: (_req, res) => healthRoute(config.role, res) },
      cors: 'set',
    },
    { path: '/api/ready', methods: { GET: ready, HEAD: ready }, cors: 'set' },
    { path: '/api/version', methods: { GET: version, HEAD: version }, cors: 'set' },
    { path: '/metrics', methods: { GET: scrape, HEAD: scrape } },
    // Any other /api/ path: a 404 a cross-origin page can read (and its preflight answered).
    { path: '/api/', prefix: true, methods: { [ANY_METHOD]: notFound }, cors: 'set' },
    // The page answers reads only; anything else outside /api/ is a 404, not a 405.
    { path: '/', prefix: true, methods: { GET: page, HEAD: page, [ANY_METHOD]: notFound } },
  ];
}
