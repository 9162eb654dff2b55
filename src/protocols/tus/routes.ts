/**
 * The resumable-upload routes: tus 1.0 and the IETF drafts at one base path (config tusPath,
 * default /files/), told apart per request by their headers: `Upload-Draft-Interop-Version`
 * without `Tus-Resumable` is IETF, anything else is tus (which answers 412 to a request without
 * Tus-Resumable). Upload URLs are <base><id> for both, over the same uploads: a client may even
 * resume with one protocol what it began with the other.
 *
 * These routes answer their own CORS (a tus OPTIONS is discovery, not only a preflight) and
 * their own errors (tus: plain text; IETF: problem details), never the JSON envelope.
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Cors } from '../../http/cors.js';
import { ANY_METHOD, type Route } from '../../http/router.js';
import { TransferError } from '../../protocol/errors.js';
import { ietfCreate, ietfDelete, ietfError, ietfHead, ietfOptions, ietfPatch } from '../ietf/handlers.js';
import { type InteropVersion, interopVersion } from '../ietf/versions.js';
import { sendTusError } from './answers.js';
import {
  discoveryHeaders,
  type TusContext,
  tusCreate,
  tusDelete,
  tusHead,
  tusOptions,
  tusPatch,
} from './handlers.js';
import { header } from './request.js';

export interface ResumableContext extends TusContext {
  cors: Cors;
  /** Told about unexpected errors (500s). */
  onError(err: unknown, req: IncomingMessage): void;
}

const COLLECTION_METHODS = 'POST, OPTIONS';
const UPLOAD_METHODS = 'HEAD, PATCH, DELETE, OPTIONS';

function notAllowed(res: ServerResponse, collection: boolean): never {
  res.setHeader('Allow', collection ? COLLECTION_METHODS : UPLOAD_METHODS);
  throw new TransferError('METHOD_NOT_ALLOWED');
}

function isPreflight(req: IncomingMessage): boolean {
  return req.headers.origin !== undefined && req.headers['access-control-request-method'] !== undefined;
}

async function tus(ctx: ResumableContext, req: IncomingMessage, res: ServerResponse, id: string) {
  // tus clients that cannot send PATCH or DELETE say so (the core protocol's MUST).
  const method = (header(req, 'x-http-method-override') ?? req.method ?? 'GET').toUpperCase();
  const collection = id === '';
  if (method === 'OPTIONS') return tusOptions(ctx, res);
  if (collection) {
    if (method === 'POST') return tusCreate(ctx, req, res);
    return notAllowed(res, true);
  }
  if (method === 'HEAD') return tusHead(ctx, req, res, id);
  if (method === 'PATCH') return tusPatch(ctx, req, res, id);
  if (method === 'DELETE') return tusDelete(ctx, req, res, id);
  return notAllowed(res, false);
}

async function ietf(
  ctx: ResumableContext,
  req: IncomingMessage,
  res: ServerResponse,
  id: string,
  v: InteropVersion,
) {
  const method = req.method ?? 'GET';
  const collection = id === '';
  if (method === 'OPTIONS') return ietfOptions(ctx, res, v);
  if (collection) {
    if (method === 'POST') return ietfCreate(ctx, req, res, v);
    return notAllowed(res, true);
  }
  if (method === 'HEAD') return ietfHead(ctx, req, res, v, id);
  if (method === 'PATCH') return ietfPatch(ctx, req, res, v, id);
  if (method === 'DELETE') return ietfDelete(ctx, req, res, v, id);
  return notAllowed(res, false);
}

async function dispatch(ctx: ResumableContext, req: IncomingMessage, res: ServerResponse, id: string) {
  const isIetf =
    header(req, 'upload-draft-interop-version') !== undefined && header(req, 'tus-resumable') === undefined;
  let version: InteropVersion | undefined;
  try {
    if (req.method === 'OPTIONS' && isPreflight(req)) {
      discoveryHeaders(ctx, res);
      ctx.cors.preflight(req, res);
      return;
    }
    ctx.cors.apply(req, res);
    if (!isIetf) return await tus(ctx, req, res, id);
    version = interopVersion(req);
    return await ietf(ctx, req, res, id, version);
  } catch (err: unknown) {
    const te = isIetf ? await ietfError(ctx, req, res, version, id, err) : sendTusError(req, res, err);
    if (te.code === 'INTERNAL') ctx.onError(err, req);
  }
}

/**
 * The routes: the collection (<base>, with or without its slash) and the uploads under it. They
 * hold upload state: with `serve --workers` the other processes forward them to the owner.
 */
export function resumableRouteTable(ctx: ResumableContext): Route[] {
  const base = ctx.path.endsWith('/') ? ctx.path : `${ctx.path}/`;
  const c = { ...ctx, path: base };
  // Access control asks the same questions as for the seed protocol, before any body byte:
  // creating is a handshake, appending a chunk, HEAD the status, DELETE a delete (OPTIONS, the
  // discovery answer, stays public). The fileId the hook sees is the upload id here.
  const action = { POST: 'handshake', PATCH: 'chunk', HEAD: 'status', DELETE: 'delete' } as const;
  return [
    {
      path: base,
      prefix: true,
      methods: { [ANY_METHOD]: (req, res, m) => dispatch(c, req, res, m.tail) },
      action,
      ownerOnly: true,
    },
    {
      path: base.slice(0, -1),
      methods: { [ANY_METHOD]: (req, res) => dispatch(c, req, res, '') },
      action,
      ownerOnly: true,
    },
  ];
}
