/** The expiry sweep: uploads nobody touched for a while go, with stray temporary data. */
import type { UploadCore } from './context.js';

/** Stray temp data (a chunk staged and never filed) goes after this long at most, even when uploads may idle longer. */
const TEMP_MAX_AGE_MS = 60 * 60 * 1000;

/** Deletes uploads idle for longer than maxIdleMs and stray temp data. Returns what it removed. */
export async function sweepExpired(
  core: UploadCore,
  maxIdleMs: number,
  now: number,
): Promise<{ uploads: number; temp: number }> {
  let uploads = 0;
  for await (const u of core.storage.listUploads()) {
    if (now - u.lastActivity <= maxIdleMs) continue;
    // Busy means not idle, whatever the store's clock says: never pull chunks from under a request.
    if (core.locks.isLocked(u.fileId) || core.assemblies.isRunning(u.fileId)) continue;
    await core.locks.run(u.fileId, () => core.storage.removeUpload(u.fileId));
    uploads++;
  }
  const temp = await core.storage.sweepTemp(Math.min(maxIdleMs, TEMP_MAX_AGE_MS));
  return { uploads, temp };
}
