/**
 * Abandon (DELETE /api/upload/<fileId>, a PROTOCOL.md extension): the requester gives its upload
 * session up. Only its own session goes (another's answers 403 FORBIDDEN, unless `admin`), with
 * the chunks only its plan lists; the shared ones go with the last session. A plan from before
 * sessions belongs to nobody: anyone may abandon it.
 */
import { TransferError } from '../protocol/errors.js';
import { parseFileKey } from '../protocol/ids.js';
import type { UploadCore } from './context.js';
import { removeSessionPlan } from './drop-plan.js';
import { sessionOf, usageEntry } from './sessions.js';

export interface AbandonOptions {
  /** The access-control hook authorised the requester for any upload: every session goes. */
  admin?: boolean;
}

export async function abandonUpload(
  core: UploadCore,
  rawFileId: unknown,
  requester?: string,
  options: AbandonOptions = {},
): Promise<void> {
  const key = parseFileKey(rawFileId);
  // An assembly already running reads the chunks: let it end (it publishes or drops the upload).
  await core.assemblies.settled(key);
  await core.locks.run(key, async () => {
    const { storage, usage } = core;
    const plans = await storage.listPlans(key);
    if (plans.length === 0) throw new TransferError('UPLOAD_NOT_FOUND');
    const session = sessionOf(requester);
    const mine = plans.find((p) => p.session === session) ?? plans.find((p) => (p.session ?? null) === null);
    if (options.admin) {
      await storage.removeUpload(key);
      usage.removeUpload(key);
      return;
    }
    if (!mine) throw new TransferError('FORBIDDEN', 'This upload belongs to another requester.');
    // Other sessions still need their chunks: this session's plan goes, with the chunks no other
    // plan lists (left, they would stay on disk counted against nobody until the upload expires);
    // the upload goes with the last plan.
    if (await removeSessionPlan(storage, plans, mine, [])) usage.removeUpload(key);
    else usage.remove(usageEntry(key, mine.session));
  });
}
