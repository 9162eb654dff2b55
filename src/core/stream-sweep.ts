/**
 * The expiry of stream uploads, run by the server's sweeper with the seed uploads': an upload
 * past its expiry (idle incomplete ones, and completed records kept for HEAD) is deleted unless a
 * request holds it. Also rebuilds the usage counts of incomplete uploads after a start.
 */

import { dropStream } from './stream-complete.js';
import type { StreamCore } from './stream-context.js';
import { RECORD_BYTES, usageKey } from './stream-context.js';

export async function sweepStreams(sc: StreamCore, now: number): Promise<number> {
  let removed = 0;
  for await (const s of sc.store.list()) {
    if (sc.locks.isLocked(s.id)) continue;
    const record = await sc.store.read(s.id).catch(() => undefined);
    // A folder or prefix without a record is what a crash left of a creation: gone after the expiry.
    const expired = record ? record.expiresAt <= now : now - s.lastActivity > sc.limits.expireAfterMs;
    if (!expired) continue;
    await dropStream(sc, s.id);
    removed++;
  }
  return removed;
}

/** Counts every incomplete stream upload for its client (once, before the first creation). */
export async function countStreams(sc: StreamCore): Promise<void> {
  const { usage } = sc.core;
  await usage.ready();
  for await (const s of sc.store.list()) {
    const record = await sc.store.read(s.id).catch(() => undefined);
    if (!record || (record.done && record.concat?.kind !== 'partial')) continue;
    try {
      usage.admit(usageKey(s.id), record.client, RECORD_BYTES);
      usage.grow(usageKey(s.id), record.offset);
    } catch {
      // Over a cap lowered since: it still counts against nothing new; it expires in time.
    }
  }
}
