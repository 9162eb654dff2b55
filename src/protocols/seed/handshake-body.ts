/**
 * Reads a handshake body in any of the three accepted encodings (JSON, urlencoded, multipart),
 * and the JSON body of a proof of ownership (readProof).
 * One cap bounds the whole body whatever its encoding (PROTOCOL.md §Bounds): refused by its
 * Content-Length before a byte is read, else with 413 as soon as the bytes read pass it; nothing
 * is kept beyond it. JSON (the body, or a form's chunkIds array) goes through the shape guard
 * before JSON.parse, so no body can hold the event loop for long.
 */
import type { IncomingMessage } from 'node:http';
import busboy from 'busboy';
import type { RawCommit, RawDeferredHandshake } from '../../core/deferred.js';
import type { RawHandshake } from '../../core/handshake.js';
import type { RawProof } from '../../core/instant.js';
import { TransferError } from '../../protocol/errors.js';
import { handshakeJsonLimits, JsonShapeGuard, type JsonShapeLimits, parseGuardedJson } from './json-guard.js';
import { UrlEncodedFields } from './urlencoded.js';

/** Every field a handshake-shaped body may carry (handshake, deferred handshake, commit). */
export type HandshakeBody = RawHandshake & RawCommit & RawDeferredHandshake;

/** The default cap: 42 id characters, quotes and a comma per id, room for the other fields; ≤ 8 MiB. */
export function handshakeBodyLimit(maxChunks: number): number {
  return Math.min(8 * 1024 * 1024, maxChunks * 48 + 64 * 1024);
}

export interface HandshakeBodyLimits {
  /** The cap on the whole body, in bytes. */
  maxBytes: number;
  maxChunks: number;
}

function tooLarge(limit: number, what = 'A handshake body'): TransferError {
  return new TransferError('BODY_TOO_LARGE', `${what} is at most ${limit} bytes.`);
}

function refuseByLength(req: IncomingMessage, limit: number, what?: string): void {
  const declared = Number(req.headers['content-length'] ?? 0);
  if (declared > limit) throw tooLarge(limit, what);
}

/**
 * Counts the body's bytes as they arrive and fails with 413 the moment they pass `limit`. On a
 * failure it stops reading (pauses the request): the HTTP layer answers and drains or closes.
 */
function capBody(
  req: IncomingMessage,
  limit: number,
  onBytes: (buf: Buffer) => void,
  fail: (err: unknown) => void,
): void {
  let size = 0;
  const onData = (buf: Buffer) => {
    size += buf.length;
    try {
      if (size > limit) throw tooLarge(limit);
      onBytes(buf);
    } catch (err: unknown) {
      req.off('data', onData);
      req.pause();
      fail(err);
    }
  };
  req.on('data', onData);
  req.on('error', () => fail(new TransferError('MALFORMED_BODY')));
  req.on('close', () => {
    if (!req.complete) fail(new TransferError('MALFORMED_BODY', 'The request body was cut off.'));
  });
}

/** Reads the whole body within the cap, handing each piece to `sink` as it arrives. */
function readBody(req: IncomingMessage, limit: number, sink: (buf: Buffer) => void): Promise<void> {
  return new Promise((resolve, reject) => {
    let settled = false;
    const fail = (err: unknown) => {
      if (settled) return;
      settled = true;
      reject(err);
    };
    capBody(req, limit, sink, fail);
    req.on('end', () => {
      if (settled) return;
      settled = true;
      resolve();
    });
  });
}

async function readJson(req: IncomingMessage, limit: number, json: JsonShapeLimits): Promise<unknown> {
  const guard = new JsonShapeGuard(json);
  const parts: Buffer[] = [];
  let size = 0;
  await readBody(req, limit, (buf) => {
    guard.feed(buf);
    parts.push(buf);
    size += buf.length;
  });
  const text = Buffer.concat(parts, size).toString('utf8');
  if (text.trim() === '') return {};
  try {
    return JSON.parse(text);
  } catch {
    throw new TransferError('MALFORMED_BODY', 'The body is not valid JSON.');
  }
}

/** chunkIds from a form: a JSON array string, or the repeated field. */
function chunkIdsFromForm(values: string[], json: JsonShapeLimits): unknown {
  if (values.length === 1 && values[0]?.trimStart().startsWith('[')) {
    try {
      return parseGuardedJson(values[0], json);
    } catch (err: unknown) {
      if (err instanceof TransferError) throw err;
      throw new TransferError('MALFORMED_BODY', 'chunkIds is not a valid JSON array.');
    }
  }
  return values.length > 0 ? values : undefined;
}

function fromForm(fields: ReadonlyMap<string, string[]>, json: JsonShapeLimits): HandshakeBody {
  const get = (key: string) => fields.get(key)?.[0];
  return {
    fileId: get('fileId'),
    ext: get('ext'),
    chunkIds: chunkIdsFromForm(
      [...(fields.get('chunkIds') ?? []), ...(fields.get('chunkIds[]') ?? [])],
      json,
    ),
    size: get('size'),
    chunkSize: get('chunkSize'),
    name: get('name'),
    sha256: get('sha256'),
    // A deferred upload's commit (core/deferred.ts) names its provisional id.
    uploadId: get('uploadId'),
    // A deferred handshake's chunk checksum (PROTOCOL.md §Chunk checksums).
    checksum: get('checksum'),
  };
}

/**
 * The cap counts every byte of the multipart body (boundaries, part headers, file parts that are
 * skipped), not only field values: fields, however many and however small, add up under it.
 */
function readMultipart(req: IncomingMessage, limits: HandshakeBodyLimits): Promise<RawHandshake> {
  const json = handshakeJsonLimits(limits.maxChunks);
  return new Promise((resolve, reject) => {
    const fields = new Map<string, string[]>();
    let settled = false;
    let bb: busboy.Busboy;
    const fail = (err: unknown) => {
      if (settled) return;
      settled = true;
      req.unpipe(bb);
      reject(err);
    };
    try {
      // Repeated chunkIds fields: one per id; the few other fields; a margin.
      const fieldCount = limits.maxChunks + 64;
      bb = busboy({
        headers: req.headers,
        limits: { fieldSize: limits.maxBytes, files: 0, fields: fieldCount, parts: fieldCount },
      });
    } catch {
      reject(new TransferError('MALFORMED_BODY'));
      return;
    }
    capBody(req, limits.maxBytes, () => undefined, fail);
    bb.on('field', (name, value, info) => {
      if (settled) return;
      if (info.valueTruncated) return fail(tooLarge(limits.maxBytes));
      const list = fields.get(name) ?? [];
      list.push(value);
      fields.set(name, list);
    });
    bb.on('file', (_name, stream) => stream.resume());
    const tooMany = () => fail(new TransferError('BODY_TOO_LARGE', 'Too many fields in the handshake form.'));
    bb.on('fieldsLimit', tooMany);
    bb.on('partsLimit', tooMany);
    bb.on('error', () => fail(new TransferError('MALFORMED_BODY')));
    bb.on('close', () => {
      if (settled) return;
      try {
        const raw = fromForm(fields, json);
        settled = true;
        resolve(raw);
      } catch (err: unknown) {
        fail(err);
      }
    });
    req.pipe(bb);
  });
}

type BodyKind = 'multipart' | 'urlencoded' | 'json';

function bodyKind(req: IncomingMessage): BodyKind {
  const type = (req.headers['content-type'] ?? '').toLowerCase();
  if (type.startsWith('multipart/form-data')) return 'multipart';
  if (type.startsWith('application/x-www-form-urlencoded')) return 'urlencoded';
  // A text/plain body needs no preflight from any web page: it is read and guarded as JSON.
  if (type === '' || type.startsWith('application/json') || type.startsWith('text/plain')) return 'json';
  throw new TransferError('UNSUPPORTED_MEDIA_TYPE');
}

/**
 * A handshake's body; also that of a deferred handshake and of its commit (core/deferred.ts),
 * whose fields are a handshake's, and the commit's uploadId.
 */
export async function readHandshake(
  req: IncomingMessage,
  limits: HandshakeBodyLimits,
): Promise<HandshakeBody> {
  const kind = bodyKind(req);
  const limit = limits.maxBytes;
  refuseByLength(req, limit);
  const json = handshakeJsonLimits(limits.maxChunks);
  if (kind === 'multipart') return readMultipart(req, limits);
  if (kind === 'urlencoded') {
    const form = new UrlEncodedFields(limits.maxChunks + 64);
    await readBody(req, limit, (buf) => form.feed(buf));
    return fromForm(form.end(), json);
  }
  const body = await readJson(req, limit, json);
  if (typeof body !== 'object' || body === null || Array.isArray(body)) {
    throw new TransferError('MALFORMED_BODY', 'The body must be a JSON object.');
  }
  return body as HandshakeBody;
}

/** A proof body is a few short fields (PROTOCOL.md §Instant upload): 4 KiB is ten times enough. */
export const PROOF_BODY_BYTES = 4096;

/** One flat object of at most a dozen members, no token longer than a size. */
const PROOF_JSON: JsonShapeLimits = {
  maxDepth: 1,
  maxContainers: 1,
  maxValues: 16,
  maxMembers: 16,
  maxToken: 24,
};

/**
 * Reads the body of POST /api/upload/proof: one JSON object (application/json, or text/plain as
 * the handshake allows), capped at PROOF_BODY_BYTES (by Content-Length before a byte is read, else
 * as the bytes arrive) and shape-guarded before it is parsed, like a handshake's.
 */
export async function readProof(req: IncomingMessage): Promise<RawProof> {
  if (bodyKind(req) !== 'json') throw new TransferError('UNSUPPORTED_MEDIA_TYPE', 'A proof is a JSON body.');
  const what = 'A proof body';
  refuseByLength(req, PROOF_BODY_BYTES, what);
  let body: unknown;
  try {
    body = await readJson(req, PROOF_BODY_BYTES, PROOF_JSON);
  } catch (err: unknown) {
    if (err instanceof TransferError && err.code === 'BODY_TOO_LARGE') throw tooLarge(PROOF_BODY_BYTES, what);
    throw err;
  }
  if (typeof body !== 'object' || body === null || Array.isArray(body)) {
    throw new TransferError('MALFORMED_BODY', 'The body must be a JSON object.');
  }
  return body as RawProof;
}
