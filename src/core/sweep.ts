/**
 * The expiry sweep: uploads nobody touched for a while go, with stray temporary data, and
 * published files older than limits.expirePublishedMs when it is set.
 */
import type { UploadCore } from './context.js';

/** Stray temp data (a chunk staged and never filed) goes after this long at most, even when uploads may idle longer. */
const TEMP_MAX_AGE_MS = 60 * 60 * 1000;

export interface SweepResult {
  uploads: number;
  temp: number;
  /** Published files deleted because they expired. */
  files: number;
}

/** Deletes uploads idle for longer than maxIdleMs and stray temp data. Returns what it removed. */
export async function sweepExpired(core: UploadCore, maxIdleMs: number, now: number): Promise<SweepResult> {
  let uploads = 0;
  for await (const u of core.storage.listUploads()) {
    if (now - u.lastActivity <= maxIdleMs) continue;
    // Busy means not idle, whatever the store's clock says: never pull chunks from under a request.
    if (core.locks.isLocked(u.fileId) || core.assemblies.isRunning(u.fileId)) continue;
    await core.locks.run(u.fileId, () => core.storage.removeUpload(u.fileId));
    core.usage.removeUpload(u.fileId);
    uploads++;
  }
  const temp = await core.storage.sweepTemp(Math.min(maxIdleMs, TEMP_MAX_AGE_MS));
  return { uploads, temp, files: await sweepPublished(core, now) };
}

/** Published files past their age go (a download running keeps its open descriptor). */
async function sweepPublished(core: UploadCore, now: number): Promise<number> {
  const maxAge = core.limits.expirePublishedMs;
  const { storage } = core;
  if (!(maxAge > 0) || !storage.listFiles || !storage.removeFile) return 0;
  let files = 0;
  for await (const f of storage.listFiles()) {
    if (now - f.publishedAt <= maxAge) continue;
    // An upload of the same file running now would be told "complete" and then lose it: wait.
    if (core.locks.isLocked(f.fileId) || core.assemblies.isRunning(f.fileId)) continue;
    const removeFile = storage.removeFile.bind(storage);
    if (await core.locks.run(f.fileId, () => removeFile(f.fileId))) files++;
  }
  return files;
}
