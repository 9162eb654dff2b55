/**
 * Deferred uploads (PROTOCOL.md §Deferred upload, an extension for our own clients): the client
 * starts sending before it knows the whole file's MD5. Its handshake declares the layout (size,
 * chunkSize), ext and name, and maybe the chunk ids, but no fileId; the upload is keyed by a
 * provisional id the server draws at random (128 bits), in a session of the requester as any
 * upload, so only that requester can send to it, inspect, abandon or commit it. Chunks go up as
 * today, each verified against the MD5 of its id; with no ids declared, a chunk id must carry its
 * index (MD5 + index, the seed's form), which places it. No chunk answer assembles it: the commit
 * names the fileId (and the SHA-256, if the client declares one, and the chunk ids in order), and
 * the ordinary assembly then verifies the file against it, exactly as for a fileId declared up
 * front, before anything is published or linked. A wrong fileId is FILE_MD5_MISMATCH and drops the
 * upload, as the ordinary mismatch does (assembly.ts).
 *
 * What it counts against: the same caps, quotas and expiry as any upload (recordPlan, usage.ts,
 * sweep.ts); the held bytes never exceed the declared size (chunk-receipt.ts).
 */
import { randomBytes } from 'node:crypto';
import { type ChunkChecksumAlgorithm, parseChecksumAlgorithm } from '../protocol/chunk-checksum.js';
import { chunkCount, chunkLength } from '../protocol/chunk-layout.js';
import { TransferError } from '../protocol/errors.js';
import { type ChunkId, chunkIndexOf, parseExt, parseFileId, parseSha256 } from '../protocol/ids.js';
import type { PublishedFile, UploadPlan } from '../storage/storage.js';
import { assembleChecked, checkDeclaredSize } from './bounds.js';
import type { UploadCore, UploadLimits } from './context.js';
import { type HandshakeFields, optionalInt, optionalName, recordPlan } from './handshake.js';
import { neededChunksYielding, parseChunkIdsYielding } from './id-lists.js';
import { sessionOf } from './sessions.js';
import { UNKNOWN_CLIENT } from './usage.js';

/** A deferred handshake as it came off the wire: a handshake's fields but fileId and sha256. */
export interface RawDeferredHandshake {
  ext?: unknown;
  size?: unknown;
  chunkSize?: unknown;
  name?: unknown;
  /** Optional: the ids, when the client knows them before it sends (else each chunk names its own). */
  chunkIds?: unknown;
  /**
   * Optional: continue this deferred upload of the requester (a client resuming after an
   * interruption, its ids known by then) instead of opening a new one; the layout must be its.
   */
  uploadId?: unknown;
  /**
   * Optional: the checksum its chunks may be sent with instead of their MD5 ids (PROTOCOL.md
   * §Chunk checksums); answered back when the server takes it.
   */
  checksum?: unknown;
}

export interface DeferredOpened {
  /** The provisional upload id: the key chunks, the state report and DELETE name it by. */
  uploadId: string;
  /** The declared ids still needed (none when no ids were declared). */
  needed: string[];
  /** How many chunks the layout has. */
  chunks: number;
  /** The chunk checksum asked for, which the server takes (else the handshake was refused). */
  checksum: ChunkChecksumAlgorithm | undefined;
}

/** The commit as it came off the wire. */
export interface RawCommit {
  uploadId?: unknown;
  fileId?: unknown;
  sha256?: unknown;
  chunkIds?: unknown;
}

/** The chunk ids of a deferred handshake or commit: absent, or one per chunk of the layout. */
async function optionalChunkIds(value: unknown, count: number): Promise<string[]> {
  if (value === undefined || value === null) return [];
  if (!Array.isArray(value) || value.length === 0) throw new TransferError('MISSING_CHUNK_IDS');
  if (value.length !== count) {
    throw new TransferError('INVALID_FIELD', `The layout has ${count} chunks, not ${value.length}.`);
  }
  return parseChunkIdsYielding(value);
}

async function validateDeferred(raw: RawDeferredHandshake, limits: UploadLimits): Promise<HandshakeFields> {
  const ext = parseExt(raw.ext);
  const size = optionalInt(raw.size, 0);
  const chunkSize = optionalInt(raw.chunkSize, 1);
  if (size === null || chunkSize === null) {
    throw new TransferError('INVALID_FIELD', 'A deferred handshake declares size and chunkSize.');
  }
  if (chunkSize > limits.maxChunkSize) {
    throw new TransferError('CHUNK_TOO_LARGE', `chunkSize ${chunkSize} exceeds ${limits.maxChunkSize}.`);
  }
  const count = chunkCount(size, chunkSize);
  if (count > limits.maxChunks) {
    throw new TransferError(
      'TOO_MANY_CHUNKS',
      `Too many chunks: ${count} > ${limits.maxChunks}; use larger chunks.`,
    );
  }
  const chunkIds = await optionalChunkIds(raw.chunkIds, count);
  const name = optionalName(raw.name);
  return { fileId: '', ext, chunkIds, size, chunkSize, name, sha256: null, deferred: true };
}

/**
 * Opens a deferred upload: a new provisional key, the requester's session over it. With an
 * uploadId, continues that one instead (the requester's own deferred session, else 404
 * UPLOAD_NOT_FOUND), its plan replaced as a second handshake replaces one: the answer then lists
 * the declared ids still needed.
 */
export async function openDeferred(
  core: UploadCore,
  raw: RawDeferredHandshake,
  client: string = UNKNOWN_CLIENT,
  requester: string = client,
): Promise<DeferredOpened> {
  const fields = await validateDeferred(raw, core.limits);
  const checksum = parseChecksumAlgorithm(raw.checksum);
  checkDeclaredSize(core.limits, fields);
  const continued =
    raw.uploadId === undefined || raw.uploadId === null ? undefined : parseUploadId(raw.uploadId);
  // Unguessable, and shaped like an MD5 so that every path and object key built from an upload
  // key takes it as it is; a random 128-bit value names no real file's upload.
  const key = continued ?? randomBytes(16).toString('hex');
  await core.usage.ready();
  // A continuation's check runs under the upload's lock, in the hold that replaces the plan: an
  // abandon or a commit of the same upload comes wholly before it (then UPLOAD_NOT_FOUND, never a
  // session written anew over an abandoned upload) or wholly after it.
  const checkContinued = (own: UploadPlan | undefined): void => {
    if (!own?.deferred) throw new TransferError('UPLOAD_NOT_FOUND');
    if (own.size !== fields.size || own.chunkSize !== fields.chunkSize) {
      throw new TransferError(
        'INVALID_FIELD',
        'size and chunkSize must be those the upload was opened with.',
      );
    }
  };
  const { plan, held } = await recordPlan(
    core,
    key,
    { ...fields, fileId: key },
    client,
    requester,
    continued ? checkContinued : undefined,
  );
  return {
    uploadId: key,
    needed: await neededChunksYielding(plan.chunkIds, held),
    chunks: chunkCount(plan.size ?? 0, plan.chunkSize ?? 1),
    checksum,
  };
}

/**
 * Where chunk `id` goes in the plan: its place among the declared ids, or for a deferred upload
 * that declared none, the index its id carries (MD5 + index) if the layout has that chunk; -1 if
 * nowhere. Placement (chunk-placement.ts) and receipt's check (checkDeferredChunk) place by it.
 */
export function chunkIndexIn(plan: UploadPlan, id: string): number {
  if (!plan.deferred || plan.chunkIds.length > 0) return plan.chunkIds.indexOf(id);
  return layoutIndex(plan, chunkIndexOf(id) ?? -1);
}

/**
 * `index` if it is a chunk of a deferred layout that declared no ids (where a chunk's index
 * places it: its id's, or the one a chunk sent with its checksum names); else -1.
 */
export function layoutIndex(plan: UploadPlan, index: number): number {
  if (!plan.deferred || plan.chunkIds.length > 0) return -1;
  return index >= 0 && index < chunkCount(plan.size ?? 0, plan.chunkSize ?? 1) ? index : -1;
}

/** The bytes chunk `index` covers by the plan's layout. */
function lengthOf(plan: UploadPlan, index: number): number {
  return chunkLength(plan.size ?? 0, plan.chunkSize ?? 1, index);
}

/**
 * Chunk receipt's check for a chunk of a deferred plan (under the upload's lock): a declared id,
 * else an id whose index is a chunk of the layout; and its bytes the length of that place, so the
 * chunks held can make the declared size and no more.
 */
export function checkDeferredChunk(plan: UploadPlan, chunk: ChunkId, size: number): void {
  const index = chunkIndexIn(plan, chunk.id);
  if (index < 0) {
    if (plan.chunkIds.length > 0) throw new TransferError('CHUNK_NOT_IN_PLAN');
    const count = chunkCount(plan.size ?? 0, plan.chunkSize ?? 1);
    throw new TransferError(
      'CHUNK_NOT_IN_PLAN',
      `A chunk id of a deferred upload is its MD5 followed by its index, 0 to ${count - 1}.`,
    );
  }
  if (size !== lengthOf(plan, index)) {
    throw new TransferError(
      'SIZE_MISMATCH',
      `Chunk ${index} is ${lengthOf(plan, index)} bytes by the layout, not ${size}.`,
    );
  }
}

/**
 * The commit: the requester's own deferred session (another's, or none: 404 UPLOAD_NOT_FOUND, as
 * for its chunks), every chunk held (409 CHUNKS_MISSING, the upload kept), then the ordinary
 * assembly against the fileId named here: the bytes are verified before any link is answered,
 * also when a file with that MD5 is published already, so a commit never trades an MD5 for a file.
 */
export async function commitDeferred(
  core: UploadCore,
  raw: RawCommit,
  requester?: string,
): Promise<{ file: PublishedFile; ext: string }> {
  const key = parseUploadId(raw.uploadId);
  const fileId = parseFileId(raw.fileId);
  const sha256 = parseSha256(raw.sha256);
  await core.usage.ready();
  const { plan, held } = await core.locks.run(key, async () => {
    const own = await core.storage.readPlan(key, sessionOf(requester));
    if (!own?.deferred) throw new TransferError('UPLOAD_NOT_FOUND');
    const count = chunkCount(own.size ?? 0, own.chunkSize ?? 1);
    const given = await optionalChunkIds(raw.chunkIds, count);
    if (own.chunkIds.length > 0 && given.length > 0 && given.join() !== own.chunkIds.join()) {
      throw new TransferError('INVALID_FIELD', 'chunkIds differ from those of the deferred handshake.');
    }
    const chunkIds = own.chunkIds.length > 0 ? own.chunkIds : given;
    if (chunkIds.length === 0) throw new TransferError('MISSING_CHUNK_IDS');
    const held = await core.storage.heldChunks(key);
    const needed = await neededChunksYielding(chunkIds, held);
    if (needed.length > 0) {
      throw new TransferError(
        'CHUNKS_MISSING',
        `${needed.length} chunks are still missing (the first: ${needed[0]}); send them, then commit again.`,
      );
    }
    // The commit's ids and SHA-256 make the plan assembly reads; the stored plan keeps its own, so a
    // commit that fails leaves the upload as it was (unless assembly drops it: a wrong fileId).
    return { plan: { ...own, chunkIds, sha256 }, held };
  });
  // The chunks just read, all of them held: assembly's bounds check them without a second read.
  return { file: await assembleChecked(core, plan, fileId, held), ext: plan.ext };
}

/** A provisional upload id: 32 hex digits (lower-cased). */
export function parseUploadId(value: unknown): string {
  if (typeof value !== 'string' || !/^[0-9a-fA-F]{32}$/.test(value)) {
    throw new TransferError(
      'INVALID_FIELD',
      'uploadId must be the 32 hex digits the deferred handshake answered.',
    );
  }
  return value.toLowerCase();
}
