/** /api/upload/*: handshake, chunk upload, and the state/abandon extensions. */
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { UploadService } from '../../core/upload-service.js';
import { clientKey } from '../../core/usage.js';
import { sendJson } from '../../http/respond.js';
import { ok } from '../../protocol/envelope.js';
import { TransferError } from '../../protocol/errors.js';
import { INSTANT_UPLOAD_MSG } from '../../protocol/types.js';
import type { StagedChunk } from '../../storage/storage.js';
import { receiveMultipartChunk, receiveRawChunk } from './chunk-body.js';
import { readHandshake } from './handshake-body.js';

export interface UploadApiContext {
  service: UploadService;
  /** The URL of a published file, for this request's base. */
  fileUrl(req: IncomingMessage, fileId: string, ext: string): string;
}

export async function handshakeRoute(ctx: UploadApiContext, req: IncomingMessage, res: ServerResponse) {
  const raw = await readHandshake(req, ctx.service.limits.maxChunks);
  const outcome = await ctx.service.handshake(raw, clientKey(req.socket.remoteAddress));
  if (outcome.kind === 'complete') {
    sendJson(res, 200, ok(ctx.fileUrl(req, outcome.file.fileId, outcome.ext), INSTANT_UPLOAD_MSG));
  } else {
    sendJson(res, 200, ok(outcome.needed));
  }
}

export async function chunkRoute(
  ctx: UploadApiContext,
  req: IncomingMessage,
  res: ServerResponse,
  query: URLSearchParams,
) {
  const { service } = ctx;
  const type = (req.headers['content-type'] ?? '').toLowerCase();
  let fileId: unknown;
  let chunkId: unknown;
  let staged: StagedChunk | undefined;
  if (type.startsWith('multipart/form-data')) {
    ({ fileId, chunkId, staged } = await receiveMultipartChunk(req, service));
  } else if (type.startsWith('application/octet-stream')) {
    fileId = query.get('fileId') ?? undefined;
    chunkId = query.get('chunkId') ?? undefined;
    // Validate before reading a byte of the body.
    if (!fileId) throw new TransferError('MISSING_FILE_ID');
    if (!chunkId) throw new TransferError('MISSING_CHUNK_ID');
    staged = await receiveRawChunk(req, service, fileId, chunkId);
  } else {
    throw new TransferError('UNSUPPORTED_MEDIA_TYPE');
  }
  if (!staged) {
    // The seed's order of complaints: file id, chunk id, then the bytes.
    if (!fileId) throw new TransferError('MISSING_FILE_ID');
    if (!chunkId) throw new TransferError('MISSING_CHUNK_ID');
    throw new TransferError('MISSING_CHUNK_DATA');
  }
  const result = await service.receiveChunk(fileId, chunkId, staged);
  if (result.file) {
    sendJson(res, 200, ok([], '', { url: ctx.fileUrl(req, result.file.fileId, result.ext) }));
  } else {
    sendJson(res, 200, ok(result.needed));
  }
}

export async function stateRoute(
  ctx: UploadApiContext,
  req: IncomingMessage,
  res: ServerResponse,
  id: string,
) {
  const { state } = await ctx.service.state(id);
  if (state.status === 'complete' && state.ext) state.url = ctx.fileUrl(req, state.fileId, state.ext);
  sendJson(res, 200, ok(state));
}

export async function abandonRoute(ctx: UploadApiContext, res: ServerResponse, id: string) {
  await ctx.service.abandon(id);
  sendJson(res, 200, ok(null));
}
