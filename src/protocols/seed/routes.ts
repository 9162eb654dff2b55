/** /api/upload/*: handshake, chunk upload, and the state/abandon extensions. */
import type { IncomingMessage, ServerResponse } from 'node:http';
import { requesterOf as sessionRequester } from '../../core/sessions.js';
import type { UploadService } from '../../core/upload-service.js';
import { clientKey } from '../../core/usage.js';
import { checkedAfterBody } from '../../http/auth/after-body.js';
import { principalOf } from '../../http/auth/principal.js';
import { clientAddress } from '../../http/client-address.js';
import { sendJsonCompressed } from '../../http/compress.js';
import { sendJson } from '../../http/respond.js';
import type { Route } from '../../http/router.js';
import { ok } from '../../protocol/envelope.js';
import { TransferError } from '../../protocol/errors.js';
import { parseSha256, requestKey } from '../../protocol/ids.js';
import { INSTANT_UPLOAD_MSG, STATE_PAGE_LIMIT } from '../../protocol/types.js';
import type { PublishedFile, StagedChunk } from '../../storage/storage.js';
import {
  chunkAnswerIds,
  DEFAULT_CHUNK_ANSWER_BYTES_PER_ID,
  prefersMinimal,
  type SeedLimits,
  statePage,
} from './answers.js';
import { receiveMultipartChunk, receiveRawChunk } from './chunk-body.js';
import {
  type ChecksummedBody,
  type ChecksumRef,
  checkChecksum,
  checksumRefOf,
  chunkIdOf,
} from './chunk-checksum.js';
import { handshakeBodyLimit, readHandshake, readProof } from './handshake-body.js';

export interface UploadApiContext {
  service: UploadService;
  /**
   * The URL of a published file, for this request's base: under instant upload 'proof'/'off' a
   * capability link (server/routes/upload-link.ts), so it needs the file's SHA-256 too.
   */
  fileUrl(req: IncomingMessage, file: Pick<PublishedFile, 'key' | 'sha256'>, ext: string): string;
  /** The adapter's bounds (PROTOCOL.md §Bounds); each one left out takes its default. */
  limits?: Partial<SeedLimits> | undefined;
}

function seedLimits(ctx: UploadApiContext): SeedLimits {
  const given = ctx.limits ?? {};
  return {
    maxHandshakeBytes: given.maxHandshakeBytes ?? handshakeBodyLimit(ctx.service.limits.maxChunks),
    chunkAnswerBytesPerId: given.chunkAnswerBytesPerId ?? DEFAULT_CHUNK_ANSWER_BYTES_PER_ID,
    statePageLimit: given.statePageLimit ?? STATE_PAGE_LIMIT,
  };
}

/** The client's address key (behind --trust-proxy, the forwarded one): its caps and quotas. */
function clientOf(req: IncomingMessage): string {
  return clientKey(clientAddress(req));
}

/**
 * Who asks: each requester has its own upload sessions (core/sessions.ts). The principal the
 * access-control hook named, else the client's address key.
 */
function requesterOf(req: IncomingMessage): string {
  return sessionRequester(clientOf(req), principalOf(req));
}

/** `/api/upload/<fileId>?sha256=…`: the SHA-keyed upload of a client that declared it. */
function keyOf(id: string, query: URLSearchParams): unknown {
  const sha256 = query.get('sha256') ?? undefined;
  parseSha256(sha256);
  return requestKey(id, sha256);
}

/** A handshake-shaped body (handshake, deferred handshake, commit) within the seed's bounds. */
function readSeedHandshake(ctx: UploadApiContext, req: IncomingMessage) {
  return readHandshake(req, {
    maxBytes: seedLimits(ctx).maxHandshakeBytes,
    maxChunks: ctx.service.limits.maxChunks,
  });
}

export async function handshakeRoute(ctx: UploadApiContext, req: IncomingMessage, res: ServerResponse) {
  const raw = await readSeedHandshake(ctx, req);
  const outcome = await ctx.service.handshake(raw, clientOf(req), requesterOf(req));
  if (outcome.kind === 'complete') {
    sendJson(res, 200, ok(ctx.fileUrl(req, outcome.file, outcome.ext), INSTANT_UPLOAD_MSG));
  } else {
    // Complete: the list is as long as the request's own list of ids. Under instantUpload
    // 'proof' a published file adds its challenge: a client that holds the bytes proves it
    // (proofRoute), any other (the seed's) just uploads the needed chunks.
    const extra = outcome.challenge ? { challenge: outcome.challenge } : undefined;
    await sendJsonCompressed(req, res, 200, ok(outcome.needed, '', extra));
  }
}

/**
 * POST /api/upload/deferred (PROTOCOL.md §Deferred upload): a handshake without its fileId,
 * read within the handshake's bounds; answers the declared ids still needed, the provisional
 * `uploadId` the chunks, state and commit name, and `remaining`, the chunks of the layout
 * still to send.
 */
export async function deferredRoute(ctx: UploadApiContext, req: IncomingMessage, res: ServerResponse) {
  const raw = await readSeedHandshake(ctx, req);
  const opened = await ctx.service.openDeferred(raw, clientOf(req), requesterOf(req));
  const extra = {
    uploadId: opened.uploadId,
    remaining: opened.chunks,
    ...(opened.checksum ? { checksum: opened.checksum } : {}),
  };
  await sendJsonCompressed(req, res, 200, ok(opened.needed, '', extra));
}

/**
 * POST /api/upload/commit: names the fileId (and sha256, chunkIds) of the requester's deferred
 * upload; answers the link once the assembled bytes were verified against it.
 */
export async function commitRoute(ctx: UploadApiContext, req: IncomingMessage, res: ServerResponse) {
  const raw = await readSeedHandshake(ctx, req);
  const { file, ext } = await ctx.service.commit(raw, requesterOf(req));
  sendJson(res, 200, ok(ctx.fileUrl(req, file, ext)));
}

/**
 * POST /api/upload/proof: the answer to a handshake's challenge earns the link (core/proof.ts).
 * Asked of access control as a handshake (the fileId and size from its body, like the handshake's).
 */
export async function proofRoute(ctx: UploadApiContext, req: IncomingMessage, res: ServerResponse) {
  const raw = await readProof(req);
  const { file, ext } = await ctx.service.prove(raw, requesterOf(req));
  sendJson(res, 200, ok(ctx.fileUrl(req, file, ext), INSTANT_UPLOAD_MSG));
}

export async function chunkRoute(
  ctx: UploadApiContext,
  req: IncomingMessage,
  res: ServerResponse,
  query: URLSearchParams,
) {
  const { service } = ctx;
  const requester = requesterOf(req);
  const type = (req.headers['content-type'] ?? '').toLowerCase();
  let fileId: unknown;
  let chunkId: unknown;
  let sha256: unknown;
  let staged: StagedChunk | undefined;
  // A chunk named by its index and checksum instead of its id (PROTOCOL.md §Chunk checksums).
  let ref: ChecksumRef | undefined;
  let checked: ChecksummedBody | undefined;
  if (type.startsWith('multipart/form-data')) {
    ({ fileId, sha256, chunkId, ref, checked, staged } = await receiveMultipartChunk(
      req,
      service,
      requester,
    ));
  } else if (type.startsWith('application/octet-stream')) {
    fileId = query.get('fileId') ?? undefined;
    chunkId = query.get('chunkId') ?? undefined;
    sha256 = query.get('sha256') ?? undefined;
    // Validate before reading a byte of the body.
    if (!fileId) throw new TransferError('MISSING_FILE_ID');
    ref = checksumRefOf({
      chunkId: chunkId as string | undefined,
      chunkIndex: query.get('chunkIndex') ?? undefined,
      checksum: query.get('checksum') ?? undefined,
    });
    if (!chunkId && !ref) throw new TransferError('MISSING_CHUNK_ID');
    parseSha256(sha256);
    ({ staged, checked } = await receiveRawChunk(
      req,
      service,
      requestKey(fileId, sha256),
      chunkId,
      ref,
      requester,
    ));
  } else {
    throw new TransferError('UNSUPPORTED_MEDIA_TYPE');
  }
  if (!staged) {
    // The seed's order of complaints: file id, chunk id, then the bytes.
    if (!fileId) throw new TransferError('MISSING_FILE_ID');
    if (!chunkId && !ref) throw new TransferError('MISSING_CHUNK_ID');
    throw new TransferError('MISSING_CHUNK_DATA');
  }
  const bytes = staged.size;
  try {
    parseSha256(sha256);
    // The bytes must make the checksum; their id is then made from their MD5 and the index.
    if (ref && checked) {
      checkChecksum(ref, checked);
      chunkId = chunkIdOf(staged.md5, ref);
    }
  } catch (err: unknown) {
    await service.discard(staged);
    throw err;
  }
  const result = await service.receiveChunk(requestKey(fileId, sha256), chunkId, staged, requester);
  // The id the server made, which the commit names (a chunk sent with its id knows it).
  const made = ref ? { chunkId } : {};
  const minimal = prefersMinimal(req);
  if (minimal) res.setHeader('Preference-Applied', 'return=minimal');
  const remaining = result.needed.length;
  if (result.file) {
    // The same "done" answer either way: data [] and the url.
    sendJson(res, 200, ok([], '', { url: ctx.fileUrl(req, result.file, result.ext), remaining: 0, ...made }));
  } else if (minimal) {
    sendJson(res, 200, ok(null, '', { remaining, ...made }));
  } else {
    // The seed's client sends data[0] next: the first ids in plan order, as many as this chunk paid for.
    const listed = result.needed.slice(0, chunkAnswerIds(bytes, seedLimits(ctx).chunkAnswerBytesPerId));
    await sendJsonCompressed(req, res, 200, ok(listed, '', { remaining, ...made }));
  }
}

export async function stateRoute(
  ctx: UploadApiContext,
  req: IncomingMessage,
  res: ServerResponse,
  id: string,
  query = new URLSearchParams(),
) {
  const page = statePage(query, seedLimits(ctx).statePageLimit);
  const { state, file } = await ctx.service.state(keyOf(id, query), page, requesterOf(req));
  if (state.status === 'complete' && state.ext)
    state.url = ctx.fileUrl(req, file ?? { key: state.fileId, sha256: null }, state.ext);
  await sendJsonCompressed(req, res, 200, ok(state));
}

export async function abandonRoute(
  ctx: UploadApiContext,
  req: IncomingMessage,
  res: ServerResponse,
  id: string,
  query = new URLSearchParams(),
) {
  await ctx.service.abandon(keyOf(id, query), requesterOf(req));
  sendJson(res, 200, ok(null));
}

/**
 * The context of one request whose fileId is in its body: under access control, its service asks
 * the hook again once the body named the fileId (http/auth/after-body.ts).
 */
function checkedCtx(ctx: UploadApiContext, req: IncomingMessage): UploadApiContext {
  const service = checkedAfterBody(ctx.service, req);
  return service === ctx.service ? ctx : { ...ctx, service };
}

/**
 * The seed protocol's routes (PROTOCOL.md): all read cross-origin, all held by the process that
 * owns upload state. GET /api/upload/handshake is a 405, not the state of an upload "handshake":
 * an exact path wins over a prefix. Each method names its action for access control.
 */
export function seedRouteTable(ctx: UploadApiContext): Route[] {
  return [
    {
      path: '/api/upload/handshake',
      methods: { POST: (req, res) => handshakeRoute(checkedCtx(ctx, req), req, res) },
      action: { POST: 'handshake' },
      cors: 'set',
      ownerOnly: true,
    },
    {
      path: '/api/upload/proof',
      methods: { POST: (req, res) => proofRoute(checkedCtx(ctx, req), req, res) },
      // The proof stands in for the handshake's upload: the same question to access control.
      action: { POST: 'handshake' },
      cors: 'set',
      ownerOnly: true,
    },
    {
      path: '/api/upload/deferred',
      methods: { POST: (req, res) => deferredRoute(checkedCtx(ctx, req), req, res) },
      action: { POST: 'handshake' },
      cors: 'set',
      ownerOnly: true,
    },
    {
      path: '/api/upload/commit',
      methods: { POST: (req, res) => commitRoute(checkedCtx(ctx, req), req, res) },
      // The commit publishes a file under its fileId: asked as that file's handshake.
      action: { POST: 'handshake' },
      cors: 'set',
      ownerOnly: true,
    },
    {
      path: '/api/upload',
      methods: {
        POST: (req, res, m) => chunkRoute(checkedCtx(ctx, req), req, res, new URLSearchParams(m.search)),
      },
      action: { POST: 'chunk' },
      cors: 'set',
      ownerOnly: true,
    },
    {
      path: '/api/upload/',
      prefix: true,
      methods: {
        GET: (req, res, m) => stateRoute(ctx, req, res, m.tail, new URLSearchParams(m.search)),
        DELETE: (req, res, m) => abandonRoute(ctx, req, res, m.tail, new URLSearchParams(m.search)),
      },
      action: { GET: 'status', DELETE: 'delete' },
      cors: 'set',
      ownerOnly: true,
    },
  ];
}
