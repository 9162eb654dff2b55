/**
 * What happens to every request, in order, in one place. The steps:
 *
 *   1. request id (X-Request-Id: a well-formed incoming one, else a new one; echoed), and on
 *      close the request log (id, method, url, route, status, time, bytes sent and received,
 *      client, user agent, Range) and the request's /metrics sample
 *   2. body rate guard (slow-loris bodies: 408)
 *   3. route lookup (router.ts)
 *   4. CORS: preflight answered, headers added (cross-origin routes only)
 *   5. refusal while shutting down (503, Connection: close)
 *   5a. access control (auth/): the route's action for the method, the hook asked before any
 *      byte of the body is read (401 UNAUTHORIZED / 403 FORBIDDEN); the principal recorded
 *   6. forwarding of the owner's routes to the owner process (`serve --workers` readers)
 *   7. the route's handler (405 when it has none for the method, 404 when no route)
 *   8. error envelope (after a lingering read of an unread body); unexpected errors logged
 *
 * and, for what node:http cannot parse, the clientError answer (client-error.ts). Before all of
 * this, each connection passes the connection gate (connections.ts: caps per client and in all),
 * and each request's client address is decided once (client-address.ts).
 * Checks that decide whether a request may run at all (authentication, per-client limits) go
 * between 5 and 6, so they hold for forwarded requests too. The request log never shows a
 * credential: no headers, and token parameters of the URL (the page's `?token=`) redacted.
 */
import { randomUUID } from 'node:crypto';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { Logger } from 'pino';
import { TransferError } from '../protocol/errors.js';
import { fileIdBeforeBody, sizeBeforeBody } from './auth/before-body.js';
import { checkAccess } from './auth/check.js';
import type { Authorize } from './auth/types.js';
import { type BodyRateLimit, guardBodyRate } from './body-rate.js';
import { clientAddress, resolveClientAddress, type TrustedProxies } from './client-address.js';
import { answerClientError } from './client-error.js';
import type { ConnectionGate } from './connections.js';
import type { Cors } from './cors.js';
import type { Forward } from './forward.js';
import { lingerOnUnreadBody } from './linger.js';
import { gateConnections } from './node-internals.js';
import { sendError } from './respond.js';
import { handlerFor, type Route, type RouteMatch, type Router } from './router.js';
import { directBytes } from './sent-bytes.js';

/** One answered request, for /metrics: `route` is the route table's path (few values). */
export interface RequestSample {
  route: string;
  method: string;
  status: number;
  /** On the wire: headers and body, sendfile included (nginx's $bytes_sent). */
  bytesOut: number;
  /** On the wire after the request's headers (its body). */
  bytesIn: number;
}

export interface RequestObserver {
  request(sample: RequestSample): void;
  /** An error answer, by its code (src/protocol/errors.ts). */
  error(code: string): void;
}

export interface PipelineParts {
  router: Router;
  cors: Cors;
  logger: Logger;
  bodyRate: BodyRateLimit;
  /** In a reader process: sends an owner-only route's request to the owner. */
  forward?: Forward;
  /** True once a graceful stop began. */
  stopping(): boolean;
  /** Access control for the routes with an action; undefined: everything is public. */
  authorize?: Authorize | undefined;
  /** Connections held, in all and per client; shared by the servers of a process. */
  gate: ConnectionGate;
  /** Peers whose X-Forwarded-For names the client (--trust-proxy). */
  trustedProxies: TrustedProxies;
  timeouts: HttpTimeouts;
  /** The owner's socket for the readers' forwarded requests (they carry the client's address). */
  internal?: boolean;
  /** Told about every answer (/metrics). */
  observer?: RequestObserver;
}

export interface HttpTimeouts {
  /** An idle keep-alive connection is closed after this (nginx keepalive_timeout). */
  keepAliveTimeoutMs: number;
  /** The request's headers must all arrive within this (nginx client_header_timeout). */
  headerTimeoutMs: number;
  /** A connection with no byte either way for this long is closed. */
  idleTimeoutMs: number;
}

/** A node:http server running every request through the pipeline. */
export function createHttpServer(parts: PipelineParts): Server {
  const { keepAliveTimeoutMs, headerTimeoutMs, idleTimeoutMs } = parts.timeouts;
  const server = createServer(
    {
      requestTimeout: 0,
      headersTimeout: headerTimeoutMs,
      keepAliveTimeout: keepAliveTimeoutMs,
      // How often node:http looks for connections past the header timeout (its default: 30 s).
      connectionsCheckingInterval: Math.min(30_000, Math.max(250, headerTimeoutMs / 4)),
    },
    requestPipeline(parts),
  );
  server.on('clientError', answerClientError);
  const internal = parts.internal === true;
  gateConnections(server, (socket) => parts.gate.admit(socket, internal));
  // Silent connections: idleTimeoutMs without a byte ends them (trickles: guardBodyRate).
  server.setTimeout(idleTimeoutMs, (socket) => socket.destroy());
  return server;
}

function requestPipeline(parts: PipelineParts): (req: IncomingMessage, res: ServerResponse) => void {
  const logRequest = requestLogger(parts.logger);
  const internal = parts.internal === true;
  const { observer } = parts;
  return (req, res) => {
    resolveClientAddress(req, internal, parts.trustedProxies);
    const socket = req.socket;
    parts.gate.requestStarted(socket);
    const id = requestId(req);
    res.setHeader('X-Request-Id', id);
    const url = req.url ?? '/';
    const q = url.indexOf('?');
    const path = q < 0 ? url : url.slice(0, q);
    const route = parts.router.find(path);
    const started = performance.now();
    const outBefore = socket.bytesWritten;
    const inBefore = socket.bytesRead;
    // One listener for both (a forwarded answer's pipeline adds many of its own).
    res.once('close', () => {
      parts.gate.requestEnded(socket);
      const sample: RequestSample = {
        route: route?.path ?? 'none',
        method: req.method ?? 'GET',
        status: res.statusCode,
        bytesOut: socket.bytesWritten - outBefore + directBytes(res),
        bytesIn: Math.max(0, socket.bytesRead - inBefore),
      };
      observer?.request(sample);
      logRequest?.(req, res, id, sample, performance.now() - started);
    });
    guardBodyRate(req, res, parts.bodyRate);
    dispatch(parts, req, res, route, path, q < 0 ? '' : url.slice(q + 1)).catch((err: unknown) => {
      if (!req.complete) lingerOnUnreadBody(req, res);
      const te = sendError(req, res, err);
      observer?.error(te.code);
      if (te.code === 'INTERNAL') parts.logger.error({ err, url: req.url, id }, 'unexpected error');
    });
  };
}

/** A client's own X-Request-Id when it is short and plain (it goes into logs), else a new one. */
const REQUEST_ID = /^[\w.:@/+=-]{1,128}$/;
function requestId(req: IncomingMessage): string {
  const given = req.headers['x-request-id'];
  return typeof given === 'string' && REQUEST_ID.test(given) ? given : randomUUID();
}

/**
 * The request line, logged at info when the answer closes; below that level: nothing to do.
 * Written here rather than with pino-http: that builds a child logger and serializes the whole
 * request and response (every header) for each request, where the Range route answers tens of
 * thousands a second; this writes one flat object with the fields an operator reads.
 */
function requestLogger(
  logger: Logger,
):
  | ((req: IncomingMessage, res: ServerResponse, id: string, s: RequestSample, ms: number) => void)
  | undefined {
  if (!logger.isLevelEnabled('info')) return undefined;
  return (req, res, id, s, ms) => {
    const range = req.headers.range;
    logger.info(
      {
        id,
        method: req.method,
        client: clientAddress(req),
        url: redactUrl((req.url ?? '').slice(0, 300)),
        status: s.status,
        ms: Math.round(ms),
        bytes: s.bytesOut,
        bytesIn: s.bytesIn,
        ...(range ? { range: range.slice(0, 100) } : {}),
        ua: (req.headers['user-agent'] ?? '').slice(0, 200),
        complete: res.writableFinished,
      },
      'request',
    );
  };
}

const TOKEN_PARAM = /([?&#](?:access_)?token=)[^&#]*/gi;

/** A request target as logged: the value of any token parameter replaced. */
export function redactUrl(url: string): string {
  return url.replace(TOKEN_PARAM, '$1[redacted]');
}

const NO_HEADERS: Record<string, string> = Object.freeze({}) as Record<string, string>;

async function dispatch(
  parts: PipelineParts,
  req: IncomingMessage,
  res: ServerResponse,
  route: Route | undefined,
  path: string,
  search: string,
): Promise<void> {
  const method = req.method ?? 'GET';
  if (route?.cors) {
    if (method === 'OPTIONS') {
      parts.cors.preflight(req, res);
      return;
    }
    if (route.cors === 'set') parts.cors.apply(req, res);
  }
  if (parts.stopping()) {
    res.setHeader('Connection', 'close');
    throw new TransferError('SHUTTING_DOWN');
  }
  if (!route) throw new TransferError('NOT_FOUND');
  const tail = route.prefix ? path.slice(route.path.length) : '';
  const action = route.action?.[method];
  if (action && parts.authorize) {
    const fileId = fileIdBeforeBody(action, req, tail, search);
    try {
      await checkAccess(parts.authorize, req, res, action, fileId, sizeBeforeBody(action, req), 'headers');
    } catch (err: unknown) {
      // A refusal is readable cross-origin, like any error answer of the route.
      if (route.cors === 'inline') parts.cors.apply(req, res);
      throw err;
    }
  }
  if (route.ownerOnly && parts.forward) return parts.forward(req, res);
  const match: RouteMatch = { path, tail, search, corsHeaders: NO_HEADERS };
  if (route.cors !== 'inline') return runHandler(route, method, req, res, match);
  try {
    match.corsHeaders = parts.cors.headers(req);
    await runHandler(route, method, req, res, match);
  } catch (err: unknown) {
    // An error answer (404, 405...) carries CORS too, unless the answer had already begun.
    if (!res.headersSent) parts.cors.apply(req, res);
    throw err;
  }
}

async function runHandler(
  route: Route,
  method: string,
  req: IncomingMessage,
  res: ServerResponse,
  match: RouteMatch,
): Promise<void> {
  const handler = handlerFor(route, method);
  if (!handler) throw new TransferError('METHOD_NOT_ALLOWED');
  await handler(req, res, match);
}
