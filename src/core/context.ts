/**
 * What every step of the upload core shares. The facade (upload-service.ts) owns one; each step
 * (handshake, placement, receipt, state, abandon, sweep) is a function of it in its own file, so
 * the next ones (sessions with owners, byte-offset uploads, quotas) arrive as new files too.
 */

import type { KeyedMutex } from '../io/keyed-mutex.js';
import type { Storage } from '../storage/storage.js';
import type { Assemblies } from './assembly.js';
import type { ProofChallenges } from './proof.js';
import type { UploadUsage } from './usage.js';

const GiB = 1024 * 1024 * 1024;

/**
 * What one upload, one client and all clients together may make the server spend. The optional
 * ones default to DEFAULT_UPLOAD_LIMITS (docs/security.md has each with its nginx/tusd/S3 peer).
 */
export interface UploadLimits {
  maxChunkSize: number;
  maxChunks: number;
  /** Largest file an upload may make: a declared size above it is refused at the handshake. */
  maxFileSize?: number;
  /** Incomplete uploads at once, from everyone (429 TOO_MANY_UPLOADS past it). */
  maxOpenUploads?: number;
  /** Incomplete uploads at once created by one client address (429 TOO_MANY_UPLOADS past it). */
  maxUploadsPerClient?: number;
  /** Bytes held by incomplete uploads, from everyone (507 QUOTA_EXCEEDED past it). */
  maxIncompleteBytes?: number;
  /** Bytes held by the incomplete uploads one client address created (507 QUOTA_EXCEEDED past it). */
  maxIncompleteBytesPerClient?: number;
  /**
   * Free space kept on the store's file system: a chunk or a plan that would eat into it answers
   * 507 INSUFFICIENT_STORAGE. null: min(1 GiB, 5% of the file system).
   */
  reserveBytes?: number | null;
  /** Published files older than this are deleted by the sweeper; 0: they never expire. */
  expirePublishedMs?: number;
  /**
   * Sessions (one per requester) one upload may have at once (429 TOO_MANY_UPLOADS past it): what
   * strangers opening sessions over someone's upload can make each chunk's commit read.
   */
  maxSessionsPerUpload?: number;
  /**
   * Instant upload (秒传) for a file already published (docs/PROTOCOL.md §Instant upload):
   * 'open' answers its link to anyone naming its MD5 (the seed's behaviour; the MD5 is then a
   * bearer token for the file), 'proof' only to a client that proves it holds the bytes (others
   * upload them), 'off' never. Default: defaultInstantUpload(host) — 'open' on loopback.
   */
  instantUpload?: InstantUploadPolicy;
  /** Proof challenges outstanding at once, in all (the oldest go first past it). */
  maxProofChallenges?: number;
}

export type InstantUploadPolicy = 'open' | 'proof' | 'off';

/** 'open' when the server listens on loopback only (the seed demo shows 秒传), else 'proof'. */
export function defaultInstantUpload(host: string): InstantUploadPolicy {
  const h = host.replace(/^\[|\]$/g, '').toLowerCase();
  const loopback = h === 'localhost' || h === '::1' || /^127\.\d{1,3}\.\d{1,3}\.\d{1,3}$/.test(h);
  return loopback ? 'open' : 'proof';
}

export type ResolvedLimits = Required<UploadLimits>;

export const DEFAULT_UPLOAD_LIMITS: Omit<ResolvedLimits, 'maxChunkSize' | 'maxChunks'> = {
  maxFileSize: 64 * GiB,
  maxOpenUploads: 10_000,
  maxUploadsPerClient: 100,
  // As large as the largest file, so that one client can always finish one upload of it.
  maxIncompleteBytes: 256 * GiB,
  maxIncompleteBytesPerClient: 64 * GiB,
  reserveBytes: null,
  expirePublishedMs: 0,
  maxSessionsPerUpload: 32,
  // The seed's behaviour for library users; the server picks defaultInstantUpload(host).
  instantUpload: 'open',
  maxProofChallenges: 10_000,
};

export function resolveLimits(limits: UploadLimits): ResolvedLimits {
  const resolved = { ...DEFAULT_UPLOAD_LIMITS, ...limits };
  // An explicit undefined (an unset config field) means the default too.
  for (const [k, v] of Object.entries(DEFAULT_UPLOAD_LIMITS)) {
    if (resolved[k as keyof typeof resolved] === undefined) Object.assign(resolved, { [k]: v });
  }
  return resolved as ResolvedLimits;
}

export interface UploadCore {
  readonly storage: Storage;
  readonly limits: ResolvedLimits;
  /**
   * Every change to one upload's plan or chunks runs under that upload's lock, so a chunk is
   * counted once and each answer sees a consistent set.
   */
  readonly locks: KeyedMutex;
  /** Assembly runs outside the lock, once per file. */
  readonly assemblies: Assemblies;
  /** Incomplete uploads and their bytes per creating client, for the caps and quotas. */
  readonly usage: UploadUsage;
  /** Outstanding proof-of-ownership challenges (instantUpload 'proof'). */
  readonly challenges: ProofChallenges;
}
