/**
 * Where a chunk's bytes go: the one place that decides. When the storage can write a chunk in
 * place (storage.placesChunks) and the plan fixes the layout (it declared size and chunkSize),
 * the bytes go straight to their offset in the file, which spares assembly its second write;
 * otherwise they are staged as a plain chunk. A protocol adapter only hands over the body and
 * whatever ids it has read before the body; it knows nothing of targets.
 */
import type { Readable } from 'node:stream';
import { parseChunkId, parseFileId } from '../protocol/ids.js';
import type { ChunkTarget, StagedChunk } from '../storage/storage.js';
import type { UploadCore, UploadLimits } from './context.js';

/** What a protocol adapter needs to take in a chunk's body (the upload service is one). */
export interface ChunkStager {
  readonly limits: Pick<UploadLimits, 'maxChunkSize'>;
  /**
   * Streams `body` to storage (in place when the ids name a chunk of a fixed layout), refusing it
   * past limits.maxChunkSize. The ids are raw: missing or invalid ones stage a plain chunk.
   */
  stage(body: Readable, rawFileId?: unknown, rawChunkId?: unknown): Promise<StagedChunk>;
  /** Drops a staged chunk nobody will file (its request failed). */
  discard(staged: StagedChunk): Promise<void>;
}

/**
 * The chunk's place in the file, or undefined for a plain chunk. Read before the body and
 * without the lock, so it is only a hint: receipt checks everything again under the lock.
 */
async function placementOf(
  core: UploadCore,
  rawFileId: unknown,
  rawChunkId: unknown,
): Promise<ChunkTarget | undefined> {
  if (!core.storage.placesChunks) return undefined;
  try {
    const fileId = parseFileId(rawFileId);
    const { id } = parseChunkId(rawChunkId);
    const plan = await core.storage.readPlan(fileId);
    if (!plan || plan.size === null || plan.chunkSize === null) return undefined;
    const index = plan.chunkIds.indexOf(id);
    if (index < 0) return undefined;
    const offset = index * plan.chunkSize;
    const length = Math.min(plan.chunkSize, plan.size - offset);
    return { fileId, index, offset, length, size: plan.size, chunkSize: plan.chunkSize };
  } catch {
    // Bad ids or an unreadable plan: a plain chunk, which receipt then refuses or files.
    return undefined;
  }
}

export async function stageChunk(
  core: UploadCore,
  body: Readable,
  rawFileId?: unknown,
  rawChunkId?: unknown,
): Promise<StagedChunk> {
  const target = await placementOf(core, rawFileId, rawChunkId);
  return core.storage.stageChunk(body, core.limits.maxChunkSize, target);
}
