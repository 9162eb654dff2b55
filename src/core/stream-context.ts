/**
 * What every step of the byte-stream uploads (tus, IETF) shares: the store, the seed core's
 * limits and usage (one cap on open uploads and one quota per client, whichever protocol made
 * them), the per-upload locks and the hash folds. Each step is a function of it in its own
 * stream-*.ts file; stream-service.ts is the facade the protocol adapters call.
 */

import type { HashFolds } from '../io/hash-folds.js';
import type { StreamStore } from '../storage/stream-store.js';
import type { UploadCore } from './context.js';
import type { StreamLocks } from './stream-locks.js';

export interface StreamLimits {
  /** An incomplete upload nobody appended to for this long expires; a completed one is forgotten. */
  expireAfterMs: number;
  /** A lock whose request delivered no byte for this long is taken over by a newer request. */
  lockIdleMs: number;
  /**
   * How long a completed upload's record (a few hundred bytes) is kept so that HEAD still answers
   * it: completed uploads count against no cap, so this bounds what they keep.
   */
  doneTtlMs: number;
}

export const DEFAULT_STREAM_LIMITS: StreamLimits = {
  expireAfterMs: 24 * 60 * 60 * 1000,
  lockIdleMs: 10_000,
  doneTtlMs: 60 * 60 * 1000,
};

/** Stream uploads whose bytes were read back to hash them (/metrics): the fold did not cover them. */
export interface StreamReadBack {
  uploads: number;
  bytes: number;
}

export interface StreamCore {
  readonly core: UploadCore;
  readonly store: StreamStore;
  readonly limits: StreamLimits;
  readonly locks: StreamLocks;
  readonly folds: HashFolds;
  readonly readBack: StreamReadBack;
}

/** A stream upload's key in the shared usage counts (never a 32-hex file id). */
export function usageKey(id: string): string {
  return `~${id}`;
}

/** What a record costs on the store beyond its bytes (state file, metadata), for the quotas. */
export const RECORD_BYTES = 1024;
