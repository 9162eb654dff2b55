/**
 * Dropping one session's plan when it can never make its file (assembly found the wrong MD5,
 * size or SHA-256, or the held chunks it lists would make a file over the limit): the plan goes
 * with every chunk it lists, and the upload only with its last plan.
 *
 * Why the chunks it lists, all of them: the bytes held under one of those MD5s may not be the ones
 * their sender meant (two chunks with one MD5: a collision planted by another session), and the
 * store cannot tell which; removed, they are sent again by whoever needs them, and the next
 * assembly reads the new copies. Why not the whole upload (as before): sessions share the upload's
 * chunks, so a stranger who knew the file's MD5 could complete a one-chunk plan of junk and have
 * everything the owner had sent thrown away. Now a failing plan costs its owner its own plan, and
 * other sessions the chunks it listed: only chunks whose MD5 the stranger knew.
 */
import type { KeyedMutex } from '../io/keyed-mutex.js';
import type { Storage, UploadPlan } from '../storage/storage.js';

/** The chunk MD5s a plan lists, once each. */
export function planMd5s(plan: Pick<UploadPlan, 'chunkIds'>): string[] {
  return [...new Set(plan.chunkIds.map((id) => id.slice(0, 32)))];
}

/** Under the upload's lock. Resolves whether the upload went with it (no plan was left). */
export function dropPlan(storage: Storage, locks: KeyedMutex, plan: UploadPlan): Promise<boolean> {
  return locks.run(plan.fileId, async () =>
    removeSessionPlan(storage, await storage.listPlans(plan.fileId), plan, planMd5s(plan)),
  );
}

/**
 * Removes `plan` (one of `plans`, the upload's plans as read under the caller's lock of the
 * upload) with the chunks in `chunks` and the held chunks no other plan lists: chunks its session
 * sent under an earlier plan it replaced. Nobody needs those, and with the session gone nobody is
 * charged for them: a stranger re-planned, sent junk, failed a one-chunk plan, and did it again
 * within its quota, while the junk counted toward the upload's file-size limit and refused the
 * owner's last chunks (413). A deferred plan without chunk ids takes any chunk at its index
 * (core/deferred.ts): then nothing is unlisted. The upload goes with its last plan. The chunks go
 * before the plan: a crash between leaves the plan needing them again, never chunks unlisted.
 * Resolves whether the upload went.
 */
export async function removeSessionPlan(
  storage: Storage,
  plans: readonly UploadPlan[],
  plan: UploadPlan,
  chunks: readonly string[],
): Promise<boolean> {
  const session = plan.session ?? null;
  const rest = plans.filter((p) => (p.session ?? null) !== session);
  if (rest.length === 0) {
    await storage.removeUpload(plan.fileId);
    return true;
  }
  const listed = new Set(rest.flatMap(planMd5s));
  const unlisted = rest.some((p) => p.deferred && p.chunkIds.length === 0)
    ? []
    : [...(await storage.heldChunks(plan.fileId)).keys()].filter((md5) => !listed.has(md5));
  await storage.removeChunks(plan.fileId, [...chunks, ...unlisted]);
  await storage.removePlan(plan.fileId, session);
  return false;
}
