/**
 * Assembly, once per upload (single flight), with the plan of the session whose chunk completed
 * it (its name and ext are the published file's). It runs outside the upload's lock, since joining
 * and hashing a whole file takes long; every request that finds the set complete waits for the one
 * running assembly before it answers, instead of starting its own. Assemblies of one MD5 (uploads
 * under different keys) publish one after the other: where each goes depends on what the other
 * published (storage/publication.ts).
 *
 * A request that found the set complete may reach assembly only after the one running then has
 * ended, published the file and removed the upload (a handshake and the last chunk at once): its
 * own assembly finds the chunks gone (the backend rejects UPLOAD_NOT_FOUND) and is answered the
 * file that assembly made from the same chunks, remembered here for a while.
 */

import { createHash } from 'node:crypto';
import type { KeyedMutex } from '../io/keyed-mutex.js';
import { TransferError } from '../protocol/errors.js';
import { expectedMd5 } from '../storage/publication.js';
import type { AssembleOptions, PublishedFile, Storage, UploadPlan } from '../storage/storage.js';
import { dropPlan } from './drop-plan.js';

/** How long, and for how many uploads, what an assembly made is remembered (Assemblies.madeFrom). */
const MADE_TTL_MS = 60_000;
export const MADE_MAX = 4096;

/** What one assembly made: the file, from which chunks (a digest of their MD5s in order), when. */
interface Made {
  chunks: string;
  file: PublishedFile;
  at: number;
}

function chunksDigest(md5s: readonly string[]): string {
  return createHash('sha256').update(md5s.join(',')).digest('base64');
}

/**
 * What an assembly of `fileId` with these options makes (`chunks`: chunksDigest of its MD5s):
 * requests alike in it share one.
 */
function sameness(fileId: string, options: AssembleOptions, chunks: string): string {
  const { sha256, expectedSize } = options;
  return `${chunks}|${expectedMd5(fileId, options)}|${sha256 ?? ''}|${expectedSize ?? ''}`;
}

export class Assemblies {
  /** Per upload key: the assembly running, and what it assembles (its `sameness`). */
  private readonly running = new Map<string, { job: Promise<PublishedFile>; same: string }>();
  /** Per upload key, in the order they were made (the oldest first). */
  private readonly made = new Map<string, Made>();

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
    const options = this.optionsOf(plan, md5);
    // Hashed once per request (a plan may list 100,000 ids): joining, remembering and madeFrom use it.
    const chunks = chunksDigest(options.md5s);
    const same = sameness(plan.fileId, options, chunks);
    const running = this.running.get(plan.fileId);
    if (running?.same === same) return running.job;
    // Another session's plan of the same upload (other chunks, another declared SHA-256 or size):
    // its result is not this plan's to take. Joining it handed, under 'proof' and 'off', the link
    // of a file being assembled to anyone who knew its MD5 (and SHA-256) and completed a plan of
    // junk chunks meanwhile. This plan's own assembly comes after it (and finds the upload gone if
    // that one published it: UPLOAD_NOT_FOUND, madeFrom deciding).
    if (running) return running.job.catch(() => undefined).then(() => this.once(plan, md5));
    const job: Promise<PublishedFile> = this.run(plan, options, chunks).finally(() => {
      if (this.running.get(plan.fileId)?.job === job) this.running.delete(plan.fileId);
    });
    this.running.set(plan.fileId, { job, same });
    return job;
  }

  private optionsOf(plan: UploadPlan, md5: string | undefined): AssembleOptions {
    return {
      ...(md5 === undefined ? {} : { md5 }),
      md5s: plan.chunkIds.map((id) => id.slice(0, 32)),
      expectedSize: plan.size,
      name: plan.name,
      ext: plan.ext,
      sha256: plan.sha256 ?? null,
      needsSha256: this.needsSha256,
    };
  }

  private run(plan: UploadPlan, options: AssembleOptions, chunks: string): Promise<PublishedFile> {
    // One lock per MD5 the file is published under, whichever upload key publishes it.
    return this.locks
      .run(`publish:${expectedMd5(plan.fileId, options)}`, () => this.assemble(plan.fileId, options, chunks))
      .catch(async (err: unknown) => {
        // A forged fileId (or a wrong chunk order, or chunks that collide with another file's)
        // can never assemble: the plan goes with the chunks it lists (drop-plan.ts), so nothing is
        // retried forever and no one is ever handed these bytes; the upload goes with its last plan.
        if (
          err instanceof TransferError &&
          (err.code === 'FILE_MD5_MISMATCH' ||
            err.code === 'SIZE_MISMATCH' ||
            err.code === 'FILE_SHA256_MISMATCH')
        ) {
          await dropPlan(this.storage, this.locks, plan);
        }
        throw err;
      });
  }

  /** Runs under the MD5's publish lock: no other assembly of this MD5 publishes meanwhile. */
  private async assemble(fileId: string, options: AssembleOptions, chunks: string): Promise<PublishedFile> {
    try {
      const file = await this.storage.assemble(fileId, options);
      this.remember(fileId, chunks, file);
      return file;
    } catch (err: unknown) {
      if (!(err instanceof TransferError && err.code === 'UPLOAD_NOT_FOUND')) throw err;
      // Its chunks are gone: made into the file by an assembly that ended just before, or removed
      // for good (an abandon, the expiry sweep, an operator, a forged upload dropped). The request
      // is told UPLOAD_NOT_FOUND in the second case: a chunk's client handshakes again, and the
      // handshake asks again itself (handshake.ts).
      const made = await this.madeFrom(fileId, options, chunks);
      if (made) return made;
      throw err;
    }
  }

  private remember(fileId: string, chunks: string, file: PublishedFile): void {
    const now = Date.now();
    this.made.delete(fileId);
    this.made.set(fileId, { chunks, file, at: now });
    for (const [key, m] of this.made) {
      if (this.made.size <= MADE_MAX && now - m.at < MADE_TTL_MS) break;
      this.made.delete(key);
    }
  }

  /**
   * The file an assembly of this upload made from these very chunks (the same MD5s in the same
   * order), if it did so lately and it is still published; else undefined.
   *
   * Why only that file, under every instant-upload policy: the request found every chunk of its
   * plan held, but held chunks are not a verified file (only assembly verifies the whole), and the
   * upload may have gone for another reason than publication. Answering whatever file is published
   * under the MD5 (instant.ts publishedFor) would hand, under 'proof' and 'off', the link of a file
   * to someone who only knows its MD5 and SHA-256: a plan of chunks of its own (each chunk's MD5 is
   * checked, but never that they make the file), sent whole, then abandoned (or left to expire)
   * before its assembly reads it. The file an assembly verified from the same chunk list of the
   * same upload is the file these chunks make, and a request that found them all held would have
   * joined that assembly had it come a moment earlier (sessions share an upload's chunks: the bytes
   * verified once count for everyone, core/sessions.ts). It must also be the MD5 this assembly
   * expects, with the SHA-256 it declared and the size it declared, if any. Anything else is
   * UPLOAD_NOT_FOUND: the client's next handshake gets what instant upload gives it under the policy
   * (the link under 'open', a proof challenge under 'proof', the chunks to send under 'off'). The
   * memory is this process's: a miss (another process over S3 assembled it, a restart) costs that
   * handshake, never a wrong answer.
   */
  private async madeFrom(
    fileId: string,
    options: AssembleOptions,
    chunks: string,
  ): Promise<PublishedFile | undefined> {
    const made = this.made.get(fileId);
    if (!made || Date.now() - made.at >= MADE_TTL_MS || made.chunks !== chunks) return undefined;
    const { file } = made;
    const declared = options.sha256 ?? null;
    if (file.fileId !== expectedMd5(fileId, options)) return undefined;
    if (declared !== null && file.sha256 !== declared) return undefined;
    if (options.expectedSize !== null && file.size !== options.expectedSize) return undefined;
    // Still there, the same bytes (the expiry of published files may have removed it since).
    const now = await this.storage.statFile(file.key);
    return now && now.sha256 === file.sha256 && now.size === file.size ? now : undefined;
  }

  /** Uploads whose made file is remembered now (madeFrom): at most MADE_MAX. */
  get remembered(): number {
    return this.made.size;
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
    await this.running.get(fileId)?.job.catch(() => undefined);
  }
}
