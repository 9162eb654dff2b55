/**
 * Disk bounds every step checks before it lets bytes in: the largest file, the free-space
 * reserve, and what assembly would write. Each refuses with its own code and changes nothing.
 */
import { TransferError } from '../protocol/errors.js';
import type { PublishedFile, SpaceInfo, UploadPlan } from '../storage/storage.js';
import type { ResolvedLimits, UploadCore } from './context.js';
import { dropPlan, planMd5s } from './drop-plan.js';
import { usageEntry } from './sessions.js';
import { planBytes } from './usage.js';

const GiB = 1024 * 1024 * 1024;

/** The handshake's declared size, or chunkSize × count when only chunkSize is declared. */
export function checkDeclaredSize(
  limits: ResolvedLimits,
  fields: Pick<UploadPlan, 'size' | 'chunkSize' | 'chunkIds'>,
): void {
  const bound = fields.size ?? (fields.chunkSize === null ? null : fields.chunkSize * fields.chunkIds.length);
  if (bound !== null && bound > limits.maxFileSize) {
    throw new TransferError(
      'FILE_TOO_LARGE',
      `The file would be ${bound} bytes, over ${limits.maxFileSize}.`,
    );
  }
}

/**
 * Refuses (507 INSUFFICIENT_STORAGE) when writing `need` more bytes would leave less than the
 * reserve free: the disk never fills up to its last byte, so what is published and the small
 * files of running uploads (plans, logs) can still be written. Stores without a disk skip it.
 */
export async function checkFreeSpace(
  core: UploadCore,
  need: number,
  /** The free space read already (begun beside other reads), else read here. */
  known?: Promise<SpaceInfo | undefined>,
): Promise<void> {
  const space = await (known ?? core.storage.space?.());
  if (!space) return;
  const reserve = core.limits.reserveBytes ?? Math.min(GiB, Math.floor(space.total * 0.05));
  if (space.free - need < reserve) {
    throw new TransferError(
      'INSUFFICIENT_STORAGE',
      `Out of space: ${need} more bytes would leave fewer than the ${reserve} bytes kept free.`,
    );
  }
}

/**
 * Before assembling: the file the held chunks make (ids may repeat) stays under maxFileSize, or
 * the upload is dropped (it can never finish); and a copying assembly (no in-place layout) fits
 * above the reserve. In place, assembly writes almost nothing new.
 */
export async function checkAssembly(
  core: UploadCore,
  plan: UploadPlan,
  held: ReadonlyMap<string, number>,
): Promise<void> {
  let total = 0;
  for (const id of plan.chunkIds) total += held.get(id.slice(0, 32)) ?? 0;
  if (total > core.limits.maxFileSize) {
    // This plan can never finish; other sessions' plans of the upload may (drop-plan.ts).
    await forgetUsage(core, plan, await dropPlan(core.storage, core.locks, plan));
    throw new TransferError(
      'FILE_TOO_LARGE',
      `The file would be ${total} bytes, over ${core.limits.maxFileSize}.`,
    );
  }
  const inPlace = core.storage.placesChunks && plan.size !== null && plan.chunkSize !== null;
  if (!inPlace) await checkFreeSpace(core, total);
}

/**
 * Assembles (once per file) after checkAssembly; the upload stops counting once it is gone.
 * `md5`: the fileId a deferred upload's commit names (its key is a provisional id). `held`: the
 * upload's held chunks as the caller has just read them (under its lock), else read here: on S3
 * each read is a LIST of the chunk objects and a GET of parts.json.
 */
export async function assembleChecked(
  core: UploadCore,
  plan: UploadPlan,
  md5?: string,
  held?: ReadonlyMap<string, number>,
): Promise<PublishedFile> {
  await checkAssembly(core, plan, held ?? (await core.storage.heldChunks(plan.fileId)));
  try {
    const file = await core.assemblies.once(plan, md5);
    core.usage.removeUpload(plan.fileId);
    return file;
  } catch (err: unknown) {
    // A failed assembly may have dropped the plan (a forged fileId), and the upload with its last
    // plan: what went counts no more.
    const plans = await core.storage.listPlans(plan.fileId).catch(() => [plan]);
    const session = plan.session ?? null;
    if (!plans.some((p) => (p.session ?? null) === session))
      await forgetUsage(core, plan, plans.length === 0);
    throw err;
  }
}

/**
 * The dropped plan's session counts no more; nor any of the upload's if the upload went. Else the
 * chunks it listed went too, some perhaps sent by the sessions left: their counts are trimmed to
 * what the upload still holds (UploadUsage.trimTo). One more read of its plans and chunks, on this
 * rare path only; if it fails, the counts stay high until those sessions end (an over-count).
 */
async function forgetUsage(core: UploadCore, plan: UploadPlan, uploadGone: boolean): Promise<void> {
  if (uploadGone) {
    core.usage.removeUpload(plan.fileId);
    return;
  }
  core.usage.remove(usageEntry(plan.fileId, plan.session));
  try {
    // Under the upload's lock, as chunks are committed and counted: held and counts agree.
    await core.locks.run(plan.fileId, async () => {
      const [plans, held] = await Promise.all([
        core.storage.listPlans(plan.fileId),
        core.storage.heldChunks(plan.fileId),
      ]);
      let bytes = 0;
      for (const size of held.values()) bytes += size;
      core.usage.trimTo(
        plans.map((p) => ({
          entry: usageEntry(p.fileId, p.session),
          planBytes: planBytes(p),
          heldListed: planMd5s(p).reduce((sum, md5) => sum + (held.get(md5) ?? 0), 0),
        })),
        bytes,
      );
    });
  } catch {
    // The over-count stays (see above).
  }
}
