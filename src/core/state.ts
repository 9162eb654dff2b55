/**
 * The state report (GET /api/upload/<fileId>, a PROTOCOL.md extension): what is held, what is
 * missing, for the requester's own session (sessions.ts). Its id lists are paged (PROTOCOL.md §Bounds): the answer stays proportional to the
 * page asked for, not to the plan, with the whole lists' counts always given.
 */
import { TransferError } from '../protocol/errors.js';
import { parseFileKey } from '../protocol/ids.js';
import type { StatePage, UploadState } from '../protocol/types.js';
import type { PublishedFile, UploadPlan } from '../storage/storage.js';
import type { UploadCore } from './context.js';
import { neededChunksYielding } from './id-lists.js';
import { publishedForKey } from './instant.js';
import { planOf } from './sessions.js';

export interface StateReport {
  state: UploadState;
  file?: PublishedFile;
}

const WHOLE: StatePage = { offset: 0, limit: Number.MAX_SAFE_INTEGER };

interface Lists {
  chunkIds: readonly string[];
  held: readonly string[];
  needed: readonly string[];
}

function paged(
  lists: Lists,
  page: StatePage,
): Pick<UploadState, 'chunkIds' | 'held' | 'needed' | 'offset' | 'limit' | 'totals'> {
  const end = page.offset + page.limit;
  return {
    chunkIds: lists.chunkIds.slice(page.offset, end),
    held: lists.held.slice(page.offset, end),
    needed: lists.needed.slice(page.offset, end),
    offset: page.offset,
    limit: page.limit,
    totals: { chunkIds: lists.chunkIds.length, held: lists.held.length, needed: lists.needed.length },
  };
}

function publishedState(
  fileId: string,
  file: PublishedFile,
  plan: UploadPlan | undefined,
  page: StatePage,
): StateReport {
  return {
    file,
    state: {
      fileId,
      ext: plan?.ext ?? file.ext ?? '',
      status: 'complete',
      ...paged({ chunkIds: plan?.chunkIds ?? [], held: [], needed: [] }, page),
      bytesHeld: file.size,
      size: file.size,
      url: null,
    },
  };
}

export async function uploadState(
  core: UploadCore,
  rawFileId: unknown,
  page = WHOLE,
  requester?: string,
): Promise<StateReport> {
  const fileId = parseFileKey(rawFileId);
  // Whether a file is published (and its size) is told only where its MD5 is enough to get it.
  const published = core.limits.instantUpload === 'open' ? await publishedForKey(core, fileId) : undefined;
  const plan = await planOf(core, fileId, requester);
  if (published) return publishedState(fileId, published, plan, page);
  if (!plan) throw new TransferError('UPLOAD_NOT_FOUND');
  const heldMap = await core.storage.heldChunks(fileId);
  const needed = await neededChunksYielding(plan.chunkIds, heldMap);
  const neededSet = new Set(needed);
  const held = [...new Set(plan.chunkIds)].filter((id) => !neededSet.has(id));
  let bytesHeld = 0;
  for (const size of heldMap.values()) bytesHeld += size;
  return {
    state: {
      fileId,
      ext: plan.ext,
      status: 'uploading',
      ...paged({ chunkIds: plan.chunkIds, held, needed }, page),
      bytesHeld,
      size: plan.size,
      url: null,
    },
  };
}
