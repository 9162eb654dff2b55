/**
 * tus 1.0.0 (https://tus.io/protocols/resumable-upload): the core protocol (HEAD, PATCH,
 * OPTIONS) and the extensions creation, creation-with-upload, creation-defer-length,
 * termination, checksum, expiration and concatenation, over the core's StreamService.
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { ChecksumAlgorithm } from '../../core/stream-append.js';
import { parseStreamId } from '../../core/stream-ids.js';
import type { StreamService } from '../../core/stream-service.js';
import { clientKey } from '../../core/usage.js';
import { TransferError } from '../../protocol/errors.js';
import type { StreamConcat, StreamDone, StreamRecord } from '../../storage/stream-store.js';
import { endEmpty, progressHeaders, TUS_CHECKSUMS, TUS_EXTENSIONS, TUS_VERSION } from './answers.js';
import { digestOf, fileNameOf, fileTypeOf, parseMetadata } from './metadata.js';
import {
  contentLength,
  dropUnreadBody,
  hasBody,
  header,
  intHeader,
  requestOwner,
  watchedBody,
} from './request.js';

export interface TusContext {
  streams: StreamService;
  /** The base path, with its trailing slash (config tusPath, default /files/). */
  path: string;
  /** This request's http://host:port (or --public-url). */
  baseUrl(req: IncomingMessage): string;
  /** The link of a published file; null when it has none (server/routes/upload-link.ts). */
  fileUrl(req: IncomingMessage, done: StreamDone): string | null;
}

const OCTETS = 'application/offset+octet-stream';
const DIGEST_BYTES: Record<ChecksumAlgorithm, number> = { md5: 16, sha1: 20, sha256: 32 };

export function uploadUrl(ctx: TusContext, req: IncomingMessage, id: string): string {
  return `${ctx.baseUrl(req)}${ctx.path}${id}`;
}

function mediaType(req: IncomingMessage): string {
  return (header(req, 'content-type') ?? '').split(';')[0]!.trim().toLowerCase();
}

function checkVersion(req: IncomingMessage): void {
  if (header(req, 'tus-resumable') !== TUS_VERSION) throw new TransferError('UNSUPPORTED_VERSION');
}

/** The discovery headers (OPTIONS, and a CORS preflight too). */
export function discoveryHeaders(ctx: TusContext, res: ServerResponse): void {
  res.setHeader('Tus-Resumable', TUS_VERSION);
  res.setHeader('Tus-Version', TUS_VERSION);
  res.setHeader('Tus-Extension', TUS_EXTENSIONS);
  res.setHeader('Tus-Max-Size', String(ctx.streams.maxSize));
  res.setHeader('Tus-Checksum-Algorithm', TUS_CHECKSUMS);
}

export function tusOptions(ctx: TusContext, res: ServerResponse): void {
  discoveryHeaders(ctx, res);
  endEmpty(res, 204);
}

function readChecksum(req: IncomingMessage): { algorithm: ChecksumAlgorithm; digest: Buffer } | undefined {
  const value = header(req, 'upload-checksum');
  if (value === undefined) return undefined;
  const m = /^([A-Za-z0-9-]+) ([A-Za-z0-9+/]+={0,2})$/.exec(value.trim());
  if (!m) throw new TransferError('INVALID_HEADER', 'Upload-Checksum must be "<algorithm> <base64 digest>".');
  const algorithm = m[1]!.toLowerCase();
  if (!Object.hasOwn(DIGEST_BYTES, algorithm)) throw new TransferError('UNSUPPORTED_CHECKSUM');
  const digest = Buffer.from(m[2]!, 'base64');
  if (digest.length !== DIGEST_BYTES[algorithm as ChecksumAlgorithm]) {
    throw new TransferError('INVALID_HEADER', `Upload-Checksum: not a ${algorithm} digest.`);
  }
  return { algorithm: algorithm as ChecksumAlgorithm, digest };
}

/** Upload-Concat: partial, or final;<url> <url>... naming uploads of this server. */
function readConcat(ctx: TusContext, req: IncomingMessage): StreamConcat {
  const value = header(req, 'upload-concat')?.trim();
  if (value === undefined) return null;
  if (value === 'partial') return { kind: 'partial' };
  if (!value.startsWith('final;'))
    throw new TransferError('INVALID_HEADER', 'Upload-Concat must be partial or final;<urls>.');
  const parts = value
    .slice('final;'.length)
    .split(' ')
    .filter(Boolean)
    .map((url) => {
      let path: string;
      try {
        path = new URL(url, 'http://upload.invalid').pathname;
      } catch {
        throw new TransferError('INVALID_HEADER', `Upload-Concat: ${url} is not a URL.`);
      }
      if (!path.startsWith(ctx.path)) throw new TransferError('PARTIAL_UPLOAD_INCOMPLETE');
      try {
        return parseStreamId(path.slice(ctx.path.length));
      } catch {
        throw new TransferError('PARTIAL_UPLOAD_INCOMPLETE', `${url} is not an upload of this server.`);
      }
    });
  return { kind: 'final', parts };
}

/** Upload-Length, or Upload-Defer-Length: 1 (null): exactly one of them. */
function readLength(ctx: TusContext, req: IncomingMessage): number | null {
  const length = intHeader(req, 'upload-length');
  const defer = header(req, 'upload-defer-length');
  if (defer !== undefined && defer.trim() !== '1') {
    throw new TransferError('INVALID_HEADER', 'Upload-Defer-Length must be 1.');
  }
  if ((length === undefined) === (defer === undefined)) {
    throw new TransferError(
      'INVALID_HEADER',
      'Send exactly one of Upload-Length and Upload-Defer-Length: 1.',
    );
  }
  if (length !== undefined && length > ctx.streams.maxSize) throw new TransferError('FILE_TOO_LARGE');
  return length ?? null;
}

async function appendBody(
  ctx: TusContext,
  req: IncomingMessage,
  id: string,
  offset: number,
  length?: number,
): Promise<StreamRecord> {
  const checksum = readChecksum(req);
  const watched = watchedBody(req);
  try {
    return await ctx.streams.append(id, watched.body, {
      offset,
      length,
      contentLength: contentLength(req),
      checksum,
      owner: watched.owner,
    });
  } finally {
    watched.done();
  }
}

/** After completion: where the published file is (a Link any client may follow). */
function fileLink(ctx: TusContext, req: IncomingMessage, res: ServerResponse, record: StreamRecord): void {
  if (record.done && record.concat?.kind !== 'partial') {
    // Under instant upload 'proof'/'off' a link needs the SHA-256 (a record without one has none).
    const url = ctx.fileUrl(req, record.done);
    if (url) res.setHeader('Link', `<${url}>; rel="item"`);
  }
}

export async function tusCreate(ctx: TusContext, req: IncomingMessage, res: ServerResponse): Promise<void> {
  checkVersion(req);
  const rawMeta = header(req, 'upload-metadata') ?? null;
  const meta = rawMeta === null ? new Map<string, string>() : parseMetadata(rawMeta);
  const base = {
    protocol: 'tus',
    metadata: rawMeta,
    name: fileNameOf(meta),
    type: fileTypeOf(meta),
    client: clientKey(req.socket.remoteAddress),
  };
  const concat = readConcat(ctx, req);
  const withBody = hasBody(req);
  let record: StreamRecord;
  if (concat?.kind === 'final') {
    if (withBody) throw new TransferError('INVALID_HEADER', 'A final upload takes no body.');
    record = await ctx.streams.createFinal(concat.parts, base);
  } else {
    const length = readLength(ctx, req);
    if (withBody && mediaType(req) !== OCTETS) throw new TransferError('UNSUPPORTED_MEDIA_TYPE');
    const claims = { md5: digestOf(meta, 'md5'), sha256: digestOf(meta, 'sha256') };
    record = await ctx.streams.create({ ...base, length, concat, claims });
    if (withBody && !record.done) {
      try {
        record = await appendBody(ctx, req, record.id, 0);
      } catch (err: unknown) {
        // Nothing of the upload was accepted: it is not kept either (the client learns no URL).
        await ctx.streams.terminate(record.id, requestOwner(req)).catch(() => undefined);
        throw err;
      }
    }
    // Already complete (the server holds the file): the body is not needed.
    dropUnreadBody(req, res);
  }
  res.setHeader('Tus-Resumable', TUS_VERSION);
  res.setHeader('Location', uploadUrl(ctx, req, record.id));
  progressHeaders(res, record);
  fileLink(ctx, req, res, record);
  endEmpty(res, 201);
}

export async function tusHead(ctx: TusContext, req: IncomingMessage, res: ServerResponse, id: string) {
  checkVersion(req);
  const record = await ctx.streams.status(id);
  res.setHeader('Tus-Resumable', TUS_VERSION);
  res.setHeader('Cache-Control', 'no-store');
  progressHeaders(res, record);
  if (record.length !== null) res.setHeader('Upload-Length', String(record.length));
  else res.setHeader('Upload-Defer-Length', '1');
  if (record.metadata) res.setHeader('Upload-Metadata', record.metadata);
  if (record.concat?.kind === 'partial') res.setHeader('Upload-Concat', 'partial');
  if (record.concat?.kind === 'final') {
    const urls = record.concat.parts.map((p) => `${ctx.path}${p}`).join(' ');
    res.setHeader('Upload-Concat', `final;${urls}`);
  }
  fileLink(ctx, req, res, record);
  endEmpty(res, 200);
}

export async function tusPatch(ctx: TusContext, req: IncomingMessage, res: ServerResponse, id: string) {
  checkVersion(req);
  if (mediaType(req) !== OCTETS) throw new TransferError('UNSUPPORTED_MEDIA_TYPE');
  const offset = intHeader(req, 'upload-offset');
  if (offset === undefined) throw new TransferError('INVALID_HEADER', 'Send Upload-Offset.');
  const record = await appendBody(ctx, req, id, offset, intHeader(req, 'upload-length'));
  res.setHeader('Tus-Resumable', TUS_VERSION);
  progressHeaders(res, record);
  fileLink(ctx, req, res, record);
  endEmpty(res, 204);
}

export async function tusDelete(ctx: TusContext, req: IncomingMessage, res: ServerResponse, id: string) {
  checkVersion(req);
  await ctx.streams.terminate(id, requestOwner(req));
  dropUnreadBody(req, res);
  res.setHeader('Tus-Resumable', TUS_VERSION);
  endEmpty(res, 204);
}
