/**
 * Upload sessions: a handshake opens a session for its requester, and the plan (chunk list, ext,
 * name, size, layout, SHA-256) belongs to (upload, requester). Another requester's handshake for
 * the same file opens its own session over the same content-addressed chunks, so it can never
 * change the first one's plan, ext, name or answers; chunk uploads, the state report and DELETE
 * use the requester's own session. A plan from before sessions (one per upload) belongs to nobody:
 * any requester may continue, inspect or abandon it.
 *
 * The requester is a principal named by the access-control hook, else the client's address key
 * (usage.ts clientKey): clients behind one NAT address share their sessions (docs/PROTOCOL.md).
 */
import { createHash } from 'node:crypto';
import type { UploadPlan } from '../storage/storage.js';
import type { UploadCore } from './context.js';
import { UNKNOWN_CLIENT } from './usage.js';

/**
 * Who asks, as sessions know it: the principal the access-control hook named (kept apart from
 * every address key), else the client's address key.
 */
export function requesterOf(client: string, principal?: string): string {
  return principal === undefined ? client : `principal:${principal}`;
}

/** The session id of a requester: 32 hex digits, safe in a path or an object key, not reversible. */
export function sessionOf(requester: string = UNKNOWN_CLIENT): string {
  return createHash('sha256').update(`upload-session\0${requester}`).digest('hex').slice(0, 32);
}

/** The key usage.ts counts a session under (one upload may have several). */
export function usageEntry(key: string, session: string | null | undefined): string {
  return `${key}/${session ?? '-'}`;
}

/** The requester's plan for the upload: its own session's, else the ownerless plan from before sessions. */
export async function planOf(
  core: UploadCore,
  key: string,
  requester?: string,
): Promise<UploadPlan | undefined> {
  return (await core.storage.readPlan(key, sessionOf(requester))) ?? (await core.storage.readPlan(key, null));
}
