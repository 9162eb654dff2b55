/**
 * Where a chunk's bytes go: the one place that decides. When the storage can write a chunk in
 * place (storage.placesChunks) and the plan fixes the layout (it declared size and chunkSize),
 * the bytes go straight to their offset in the file, which spares assembly its second write;
 * otherwise they are staged as a plain chunk. A protocol adapter only hands over the body and
 * whatever ids it has read before the body; it knows nothing of targets.
 */
import type { Readable } from 'node:stream';
import { isOutOfDescriptors, mapFsError } from '../io/fs-util.js';
import { chunkLength } from '../protocol/chunk-layout.js';
import { parseChunkId, parseFileKey } from '../protocol/ids.js';
import type { ChunkTarget, StagedChunk, UploadPlan } from '../storage/storage.js';
import { checkFreeSpace } from './bounds.js';
import type { UploadCore, UploadLimits } from './context.js';
import { chunkIndexIn, layoutIndex } from './deferred.js';
import { planOf } from './sessions.js';
import { UNKNOWN_CLIENT } from './usage.js';

/** What a protocol adapter needs to take in a chunk's body (the upload service is one). */
export interface ChunkStager {
  readonly limits: Pick<UploadLimits, 'maxChunkSize'>;
  /**
   * Streams `body` to storage (in place when the ids name a chunk of the requester's plan with a
   * fixed layout), refusing it past limits.maxChunkSize. The ids are raw: missing or invalid ones
   * stage a plain chunk. `index`: the chunk's place, for a chunk that names it instead of its id
   * (a chunk sent with its checksum, PROTOCOL.md §Chunk checksums).
   */
  stage(
    body: Readable,
    rawFileId?: unknown,
    rawChunkId?: unknown,
    requester?: string,
    index?: number,
  ): Promise<StagedChunk>;
  /** Drops a staged chunk nobody will file (its request failed). */
  discard(staged: StagedChunk): Promise<void>;
}

/** What is known of a chunk before its body: its upload's plan, and its place in the file. */
interface Placement {
  plan: UploadPlan | undefined;
  target: ChunkTarget | undefined;
}

/** The place of the chunk a raw id names in the plan, -1 if none. */
function indexOfId(plan: UploadPlan, rawChunkId: unknown): number {
  try {
    return chunkIndexIn(plan, parseChunkId(rawChunkId).id);
  } catch {
    return -1;
  }
}

/**
 * The chunk's place in the file (undefined for a plain chunk) and its upload's plan. Read before
 * the body and without the lock, so it is only a hint: receipt checks everything again under the
 * lock.
 */
async function placementOf(
  core: UploadCore,
  rawFileId: unknown,
  rawChunkId: unknown,
  requester: string | undefined,
  named: number | undefined,
): Promise<Placement> {
  let fileId: string;
  let plan: UploadPlan | undefined;
  try {
    fileId = parseFileKey(rawFileId);
    plan = await planOf(core, fileId, requester);
  } catch (err: unknown) {
    // Out of descriptors is no reason to take a chunk in blind.
    if (isOutOfDescriptors(err)) throw mapFsError(err);
    // Bad ids or an unreadable plan: a plain chunk, which receipt then refuses or files.
    return { plan: undefined, target: undefined };
  }
  if (!core.storage.placesChunks || !plan || plan.size === null || plan.chunkSize === null) {
    return { plan, target: undefined };
  }
  const index = named === undefined ? indexOfId(plan, rawChunkId) : layoutIndex(plan, named);
  if (index < 0) return { plan, target: undefined };
  const offset = index * plan.chunkSize;
  const length = chunkLength(plan.size, plan.chunkSize, index);
  return {
    plan,
    target: { fileId, index, offset, length, size: plan.size, chunkSize: plan.chunkSize, plan },
  };
}

/**
 * Stages a chunk's body, refusing it before a byte is written when the quotas or the free-space
 * reserve have no room for it (as far as it is known: receipt checks again with its real size).
 */
export async function stageChunk(
  core: UploadCore,
  body: Readable,
  rawFileId?: unknown,
  rawChunkId?: unknown,
  requester?: string,
  index?: number,
): Promise<StagedChunk> {
  await core.usage.ready();
  const { plan, target } = await placementOf(core, rawFileId, rawChunkId, requester, index);
  const incoming = target?.length ?? 0;
  const owner = plan ? (plan.client ?? UNKNOWN_CLIENT) : undefined;
  core.usage.checkQuota(owner, incoming);
  await checkFreeSpace(core, incoming);
  return core.storage.stageChunk(body, core.limits.maxChunkSize, target);
}
