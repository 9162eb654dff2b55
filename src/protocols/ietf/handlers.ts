/**
 * IETF resumable uploads (draft-ietf-httpbis-resumable-upload, interop versions 3, 5, 6 and 8):
 * upload creation by POST (with the 104 Upload Resumption Supported that carries the upload's
 * URL before the body is read), offset retrieval by HEAD, append by PATCH, cancellation by
 * DELETE, over the same StreamService as tus, at the same base path.
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import { clientKey } from '../../core/usage.js';
import { writeInformational } from '../../http/node-internals.js';
import { TransferError } from '../../protocol/errors.js';
import type { StreamRecord } from '../../storage/stream-store.js';
import { endEmpty } from '../tus/answers.js';
import { type TusContext, uploadUrl } from '../tus/handlers.js';
import { fileNameOf, fileTypeOf, parseMetadata, safeFileName } from '../tus/metadata.js';
import { contentLength, header, intHeader, requestOwner, watchedBody } from '../tus/request.js';
import { sendProblem } from './problem.js';
import {
  appendMediaType,
  completeHeader,
  type InteropVersion,
  mediaTypeRequired,
  requestCompletes,
} from './versions.js';

/** Upload-Limit (version 8): the largest upload, and for an upload the seconds it has left. */
function uploadLimit(ctx: TusContext, record?: StreamRecord): string {
  const expires =
    record && !record.done
      ? `, expires=${Math.max(0, Math.floor((record.expiresAt - Date.now()) / 1000))}`
      : '';
  return `max-size=${ctx.streams.maxSize}${expires}`;
}

function commonHeaders(ctx: TusContext, res: ServerResponse, version: InteropVersion, record?: StreamRecord) {
  res.setHeader('Upload-Draft-Interop-Version', String(version));
  if (version >= 8) res.setHeader('Upload-Limit', uploadLimit(ctx, record));
}

function stateHeaders(
  ctx: TusContext,
  req: IncomingMessage,
  res: ServerResponse,
  version: InteropVersion,
  record: StreamRecord,
) {
  commonHeaders(ctx, res, version, record);
  res.setHeader('Upload-Offset', String(record.offset));
  const [name, value] = completeHeader(version, record.done !== null);
  res.setHeader(name, value);
  if (record.length !== null) res.setHeader('Upload-Length', String(record.length));
  if (record.done && record.concat?.kind !== 'partial') {
    const url = ctx.fileUrl(req, record.done);
    if (url) res.setHeader('Link', `<${url}>; rel="item"`);
  }
}

/** The file name a creation's Content-Disposition gives, if any. */
function dispositionName(req: IncomingMessage): string | null {
  const value = header(req, 'content-disposition');
  const m = value ? /filename\*?=(?:UTF-8'')?"?([^";]+)"?/i.exec(value) : null;
  if (!m?.[1]) return null;
  let name = m[1];
  try {
    name = decodeURIComponent(name);
  } catch {
    // kept as sent
  }
  return safeFileName(name);
}

async function append(
  ctx: TusContext,
  req: IncomingMessage,
  id: string,
  offset: number,
  completes: boolean,
  length?: number,
): Promise<StreamRecord> {
  const watched = watchedBody(req);
  try {
    return await ctx.streams.append(id, watched.body, {
      offset,
      length,
      completes,
      contentLength: contentLength(req),
      owner: watched.owner,
    });
  } finally {
    watched.done();
  }
}

export async function ietfCreate(
  ctx: TusContext,
  req: IncomingMessage,
  res: ServerResponse,
  version: InteropVersion,
) {
  const completes = requestCompletes(req, version);
  const declared = intHeader(req, 'upload-length');
  const bodyLength = contentLength(req);
  let length = declared ?? null;
  if (completes && bodyLength !== undefined) {
    if (length !== null && length !== bodyLength) throw new TransferError('LENGTH_MISMATCH');
    length = bodyLength;
  }
  if (length !== null && length > ctx.streams.maxSize) throw new TransferError('FILE_TOO_LARGE');
  // tus-js-client sends its tus metadata in IETF mode too: the name and type are taken from it.
  const rawMeta = header(req, 'upload-metadata') ?? null;
  const meta = rawMeta === null ? new Map<string, string>() : parseMetadata(rawMeta);
  const type = fileTypeOf(meta) ?? ((header(req, 'content-type') ?? '').split(';')[0]!.trim() || null);
  let record = await ctx.streams.create({
    protocol: `ietf-${version}`,
    length,
    metadata: rawMeta,
    name: fileNameOf(meta) ?? dispositionName(req),
    type,
    concat: null,
    client: clientKey(req.socket.remoteAddress),
  });
  const url = uploadUrl(ctx, req, record.id);
  // The URL before the body: a client cut off mid-body resumes there.
  const early: Record<string, string> = { Location: url, 'Upload-Draft-Interop-Version': String(version) };
  if (version >= 8) early['Upload-Limit'] = uploadLimit(ctx, record);
  writeInformational(res, 104, 'Upload Resumption Supported', early);
  res.setHeader('Location', url);
  // A failed append leaves the upload there (the 104 told its URL): the client resumes it.
  record = await append(ctx, req, record.id, 0, completes);
  stateHeaders(ctx, req, res, version, record);
  endEmpty(res, 201);
}

export async function ietfHead(
  ctx: TusContext,
  req: IncomingMessage,
  res: ServerResponse,
  version: InteropVersion,
  id: string,
) {
  const record = await ctx.streams.status(id);
  stateHeaders(ctx, req, res, version, record);
  res.setHeader('Cache-Control', 'no-store');
  endEmpty(res, 204);
}

export async function ietfPatch(
  ctx: TusContext,
  req: IncomingMessage,
  res: ServerResponse,
  version: InteropVersion,
  id: string,
) {
  const wanted = appendMediaType(version);
  const type = (header(req, 'content-type') ?? '').split(';')[0]!.trim().toLowerCase();
  if (wanted && (type ? type !== wanted : mediaTypeRequired(version))) {
    throw new TransferError('UNSUPPORTED_MEDIA_TYPE', `An append is sent as ${wanted}.`);
  }
  const offset = intHeader(req, 'upload-offset');
  if (offset === undefined) throw new TransferError('INVALID_HEADER', 'Send Upload-Offset.');
  const completes = requestCompletes(req, version);
  const record = await append(ctx, req, id, offset, completes, intHeader(req, 'upload-length'));
  stateHeaders(ctx, req, res, version, record);
  endEmpty(res, record.done ? 200 : 204);
}

export async function ietfDelete(
  ctx: TusContext,
  req: IncomingMessage,
  res: ServerResponse,
  version: InteropVersion,
  id: string,
) {
  await ctx.streams.terminate(id, requestOwner(req));
  commonHeaders(ctx, res, version);
  endEmpty(res, 204);
}

export function ietfOptions(ctx: TusContext, res: ServerResponse, version: InteropVersion) {
  commonHeaders(ctx, res, version);
  endEmpty(res, 204);
}

/** The problem answer, with the upload's offset when the client's was wrong. */
export async function ietfError(
  ctx: TusContext,
  req: IncomingMessage,
  res: ServerResponse,
  version: InteropVersion | undefined,
  id: string,
  err: unknown,
): Promise<TransferError> {
  let expectedOffset: number | undefined;
  if (err instanceof TransferError && err.code === 'OFFSET_MISMATCH') {
    expectedOffset = (await ctx.streams.status(id).catch(() => undefined))?.offset;
  }
  const headers: Record<string, string> = version ? { 'Upload-Draft-Interop-Version': String(version) } : {};
  return sendProblem(req, res, err, {
    expectedOffset,
    providedOffset: intHeaderOrUndefined(req),
    headers,
  });
}

function intHeaderOrUndefined(req: IncomingMessage): number | undefined {
  try {
    return intHeader(req, 'upload-offset');
  } catch {
    return undefined;
  }
}
