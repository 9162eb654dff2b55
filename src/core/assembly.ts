/**
 * Assembly, once per upload (single flight), with the plan of the session whose chunk completed
 * it (its name and ext are the published file's). It runs outside the upload's lock, since joining
 * and hashing a whole file takes long; every request that finds the set complete waits for the one
 * running assembly before it answers, instead of starting its own. Assemblies of one MD5 (uploads
 * under different keys) publish one after the other: where each goes depends on what the other
 * published (storage/publication.ts).
 */

import type { KeyedMutex } from '../io/keyed-mutex.js';
import { TransferError } from '../protocol/errors.js';
import { expectedMd5 } from '../storage/publication.js';
import type { AssembleOptions, PublishedFile, Storage, UploadPlan } from '../storage/storage.js';

export class Assemblies {
  private readonly running = new Map<string, Promise<PublishedFile>>();

  constructor(
    private readonly storage: Storage,
    private readonly locks: KeyedMutex,
    /** Links carry the SHA-256 (instant upload 'proof'/'off'): AssembleOptions.needsSha256. */
    private readonly needsSha256 = false,
  ) {}

  /**
   * Assembles the plan's file, or joins the assembly of it already running. `md5`: what the file
   * must hash to when the key does not say it (a deferred upload's commit: deferred.ts).
   */
  once(plan: UploadPlan, md5?: string): Promise<PublishedFile> {
    const running = this.running.get(plan.fileId);
    if (running) return running;
    const options: AssembleOptions = {
      ...(md5 === undefined ? {} : { md5 }),
      md5s: plan.chunkIds.map((id) => id.slice(0, 32)),
      expectedSize: plan.size,
      name: plan.name,
      ext: plan.ext,
      sha256: plan.sha256 ?? null,
      needsSha256: this.needsSha256,
    };
    // One lock per MD5 the file is published under, whichever upload key publishes it.
    const job = this.locks
      .run(`publish:${expectedMd5(plan.fileId, options)}`, () => this.storage.assemble(plan.fileId, options))
      .catch(async (err: unknown) => {
        // A forged fileId (or a wrong chunk order, or chunks that collide with another file's)
        // can never assemble: drop the upload so nothing is retried forever and no one is ever
        // handed these bytes.
        if (
          err instanceof TransferError &&
          (err.code === 'FILE_MD5_MISMATCH' ||
            err.code === 'SIZE_MISMATCH' ||
            err.code === 'FILE_SHA256_MISMATCH')
        ) {
          await this.locks.run(plan.fileId, () => this.storage.removeUpload(plan.fileId));
        }
        throw err;
      })
      .finally(() => this.running.delete(plan.fileId));
    this.running.set(plan.fileId, job);
    return job;
  }

  /** Assemblies running now (for /metrics). */
  get count(): number {
    return this.running.size;
  }

  isRunning(fileId: string): boolean {
    return this.running.has(fileId);
  }

  /** Resolves once the file's running assembly, if any, has ended, however it ended. */
  async settled(fileId: string): Promise<void> {
    await this.running.get(fileId)?.catch(() => undefined);
  }
}
