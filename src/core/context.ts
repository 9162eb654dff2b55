/**
 * What every step of the upload core shares. The facade (upload-service.ts) owns one; each step
 * (handshake, placement, receipt, state, abandon, sweep) is a function of it in its own file, so
 * the next ones (sessions with owners, byte-offset uploads, quotas) arrive as new files too.
 */
import type { Storage } from '../storage/storage.js';
import type { Assemblies } from './assembly.js';
import type { KeyedMutex } from './keyed-mutex.js';

export interface UploadLimits {
  maxChunkSize: number;
  maxChunks: number;
}

export interface UploadCore {
  readonly storage: Storage;
  readonly limits: UploadLimits;
  /**
   * Every change to one upload's plan or chunks runs under that upload's lock, so a chunk is
   * counted once and each answer sees a consistent set.
   */
  readonly locks: KeyedMutex;
  /** Assembly runs outside the lock, once per file. */
  readonly assemblies: Assemblies;
}
