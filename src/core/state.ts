/** The state report (GET /api/upload/<fileId>, a PROTOCOL.md extension): what is held, what is missing. */
import { TransferError } from '../protocol/errors.js';
import { parseFileId } from '../protocol/ids.js';
import type { UploadState } from '../protocol/types.js';
import type { PublishedFile, UploadPlan } from '../storage/storage.js';
import type { UploadCore } from './context.js';
import { neededChunks } from './needed.js';

export interface StateReport {
  state: UploadState;
  file?: PublishedFile;
}

function publishedState(fileId: string, file: PublishedFile, plan: UploadPlan | undefined): StateReport {
  return {
    file,
    state: {
      fileId,
      ext: plan?.ext ?? file.ext ?? '',
      status: 'complete',
      chunkIds: plan?.chunkIds ?? [],
      held: [],
      needed: [],
      bytesHeld: file.size,
      size: file.size,
      url: null,
    },
  };
}

export async function uploadState(core: UploadCore, rawFileId: unknown): Promise<StateReport> {
  const fileId = parseFileId(rawFileId);
  const published = await core.storage.statFile(fileId);
  const plan = await core.storage.readPlan(fileId);
  if (published) return publishedState(fileId, published, plan);
  if (!plan) throw new TransferError('UPLOAD_NOT_FOUND');
  const heldMap = await core.storage.heldChunks(fileId);
  const needed = neededChunks(plan.chunkIds, heldMap);
  const neededSet = new Set(needed);
  const held = [...new Set(plan.chunkIds)].filter((id) => !neededSet.has(id));
  let bytesHeld = 0;
  for (const size of heldMap.values()) bytesHeld += size;
  return {
    state: {
      fileId,
      ext: plan.ext,
      status: 'uploading',
      chunkIds: plan.chunkIds,
      held,
      needed,
      bytesHeld,
      size: plan.size,
      url: null,
    },
  };
}
