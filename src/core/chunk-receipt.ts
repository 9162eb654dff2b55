/**
 * Chunk receipt (PROTOCOL.md §Chunk upload): files a staged chunk under its upload, for the
 * requester's own session (sessions.ts), under the upload's lock, and assembles the file (outside
 * the lock, once) when that was the last one of the session's plan.
 */
import { TransferError } from '../protocol/errors.js';
import { type ChunkId, parseChunkId, parseFileKey } from '../protocol/ids.js';
import type { PublishedFile, StagedChunk, UploadPlan } from '../storage/storage.js';
import { assembleChecked, checkFreeSpace } from './bounds.js';
import type { UploadCore } from './context.js';
import { checkDeferredChunk } from './deferred.js';
import { neededChunksYielding } from './id-lists.js';
import { publishedForKey } from './instant.js';
import { planOf, usageEntry } from './sessions.js';
import { UNKNOWN_CLIENT } from './usage.js';

export interface ChunkOutcome {
  needed: string[];
  /** Set when this answer completes the upload: the published file. */
  file?: PublishedFile;
  stored: boolean;
  /** The extension of the upload's plan ('' if the plan is already gone). */
  ext: string;
}

/** What filing a chunk under the lock found; assembly, if due, comes after the lock. */
interface Filed {
  needed: string[];
  stored: boolean;
  plan: UploadPlan | undefined;
  /** Set when the file was published already: the chunk was not needed. */
  file: PublishedFile | undefined;
  /** The upload's held chunks as read after the commit (undefined when not read): assembly's. */
  held?: ReadonlyMap<string, number>;
}

/**
 * Before a new chunk is held: the upload stays under maxFileSize (checked here when no size was
 * declared), its client and everyone under their quotas, and the disk above its reserve (the
 * chunk's bytes are on it already: this refuses to keep them).
 */
async function checkRoom(
  core: UploadCore,
  plan: UploadPlan,
  size: number,
  held: ReadonlyMap<string, number>,
): Promise<void> {
  const { usage, limits } = core;
  let heldBytes = 0;
  for (const bytes of held.values()) heldBytes += bytes;
  if (heldBytes + size > limits.maxFileSize) {
    throw new TransferError('FILE_TOO_LARGE', `The upload would hold over ${limits.maxFileSize} bytes.`);
  }
  // A deferred upload's chunks are placed by index alone: what it holds never passes its size.
  if (plan.deferred && plan.size !== null && heldBytes + size > plan.size) {
    throw new TransferError('FILE_TOO_LARGE', `The upload would hold over its declared ${plan.size} bytes.`);
  }
  usage.checkQuota(plan.client ?? UNKNOWN_CLIENT, size);
  await checkFreeSpace(core, 0);
}

/** Runs under the upload's lock; the staged chunk is committed or discarded whatever happens. */
async function file(
  core: UploadCore,
  fileId: string,
  chunk: ChunkId,
  staged: StagedChunk,
  requester: string | undefined,
): Promise<Filed> {
  const { storage } = core;
  try {
    // Open instant upload: a published file is done for anyone (as its handshake would say).
    // Otherwise the session's chunks must make the file, verified by assembly. What the receipt
    // reads, it reads at once: on S3 each is a request to the store.
    const [published, plan, held] = await Promise.all([
      core.limits.instantUpload === 'open' ? publishedForKey(core, fileId) : undefined,
      planOf(core, fileId, requester),
      storage.heldChunks(fileId),
    ]);
    if (published) {
      await storage.discardChunk(staged);
      return { needed: [], file: published, stored: false, plan };
    }
    if (!plan) throw new TransferError('UPLOAD_NOT_FOUND');
    if (!plan.deferred && !plan.chunkIds.includes(chunk.id)) throw new TransferError('CHUNK_NOT_IN_PLAN');
    if (staged.md5 !== chunk.md5) throw new TransferError('CHUNK_MD5_MISMATCH');
    // A deferred upload may not have declared its ids: its layout places the chunk (deferred.ts).
    if (plan.deferred) checkDeferredChunk(plan, chunk, staged.size);
    if (plan.chunkSize !== null && staged.size > plan.chunkSize) {
      throw new TransferError(
        'CHUNK_TOO_LARGE',
        `Chunk of ${staged.size} bytes > declared ${plan.chunkSize}.`,
      );
    }
    if (!held.has(staged.md5)) await checkRoom(core, plan, staged.size, held);
    const stored = await storage.commitChunk(staged, fileId);
    if (stored) core.usage.grow(usageEntry(fileId, plan.session), staged.size);
    // Read after the commit: of two last chunks committed at once, one sees both and assembles.
    // A deferred upload that declared no ids needs nothing (its commit assembles): no read.
    if (plan.chunkIds.length === 0) return { needed: [], stored, plan, file: undefined };
    const after = await storage.heldChunks(fileId, staged);
    return {
      needed: await neededChunksYielding(plan.chunkIds, after),
      stored,
      plan,
      file: undefined,
      held: after,
    };
  } catch (err: unknown) {
    await storage.discardChunk(staged);
    throw err;
  }
}

/**
 * Files a staged chunk under an upload. Takes ownership of `staged`: it is committed or
 * discarded whatever happens.
 */
export async function receiveChunk(
  core: UploadCore,
  rawFileId: unknown,
  rawChunkId: unknown,
  staged: StagedChunk,
  requester?: string,
): Promise<ChunkOutcome> {
  let fileId: string;
  let chunk: ChunkId;
  try {
    fileId = parseFileKey(rawFileId);
    chunk = parseChunkId(rawChunkId);
  } catch (err: unknown) {
    await core.storage.discardChunk(staged);
    throw err;
  }
  try {
    await core.usage.ready();
  } catch (err: unknown) {
    await core.storage.discardChunk(staged);
    throw err;
  }
  const filed = await core.locks.run(fileId, () => file(core, fileId, chunk, staged, requester));
  const ext = filed.plan?.ext ?? filed.file?.ext ?? '';
  if (filed.file) return { needed: [], file: filed.file, stored: false, ext };
  // A deferred upload is assembled by its commit, which names the fileId (deferred.ts).
  if (filed.needed.length > 0 || !filed.plan || filed.plan.deferred)
    return { needed: filed.needed, stored: filed.stored, ext };
  // The held chunks read after the last commit are assembly's (on S3 another read is a LIST and a GET).
  const published = await assembleChecked(core, filed.plan, undefined, filed.held);
  return { needed: [], file: published, stored: filed.stored, ext };
}
