/**
 * In-place chunks: when the plan declares size and chunkSize (our clients do), a chunk is written
 * straight into uploads/<id>/data at its offset and recorded in uploads/<id>/regions
 * (chunk-regions.ts has the rules). Assembly is then one read to verify the MD5 (most of it
 * folded in already as chunks arrived in order) and a rename: 1 write and ~0 extra reads per byte
 * end to end. A chunk that cannot go in place (no layout declared, a second sender of a chunk
 * being written, a chunk that does not fit its place) is a plain chunk instead.
 */
import { createHash } from 'node:crypto';
import { type FileHandle, open } from 'node:fs/promises';
import { Readable } from 'node:stream';
import { GatherWriter, mapFsError } from '../../io/fs-util.js';
import { TransferError } from '../../protocol/errors.js';
import type { ChunkTarget, UploadPlan } from '../storage.js';
import { RegionSet, readRegion } from './chunk-regions.js';
import type { DiskLayout } from './layout.js';
import type { PlainChunks } from './plain-chunks.js';
import type { InPlaceClaim, LocalStagedChunk } from './staged-chunk.js';

export class InPlaceChunks {
  /** In-place regions per upload, loaded once from disk (undefined: none). */
  private readonly sets = new Map<string, Promise<RegionSet | undefined>>();

  constructor(
    private readonly layout: DiskLayout,
    private readonly plain: PlainChunks,
    private readonly readPlan: (fileId: string) => Promise<UploadPlan | undefined>,
  ) {}

  /** The upload's region set, if it has one. */
  load(fileId: string): Promise<RegionSet | undefined> {
    let p = this.sets.get(fileId);
    if (!p) {
      p = RegionSet.load(this.layout.regionFiles(fileId));
      this.sets.set(fileId, p);
      p.catch(() => this.sets.delete(fileId));
    }
    return p;
  }

  /** The upload went: its set describes nothing any more. */
  async forget(fileId: string): Promise<void> {
    const set = await this.sets.get(fileId)?.catch(() => undefined);
    set?.markDead();
    this.sets.delete(fileId);
  }

  /**
   * Before a new plan takes effect: held regions it does not place where they are (another
   * layout, or another chunk at that index) are copied out into plain chunks, so they stay held.
   */
  async reconcile(plan: UploadPlan): Promise<void> {
    const set = await this.load(plan.fileId);
    if (!set) return;
    await set.settled();
    if (set.dead) return;
    const sameLayout = plan.size === set.size && plan.chunkSize === set.chunkSize;
    const evict = [...set.held]
      .filter(([i, md5]) => !sameLayout || plan.chunkIds[i]?.slice(0, 32) !== md5)
      .map(([i]) => i);
    if (evict.length > 0) {
      const fh = await open(set.dataPath, 'r');
      try {
        for (const i of evict) await this.keepAsPlainChunk(fh, set, i, set.held.get(i)!, plan.fileId);
      } finally {
        await fh.close();
      }
    }
    if (!sameLayout) {
      await set.destroy();
      this.sets.set(plan.fileId, Promise.resolve(undefined));
    } else if (evict.length > 0) {
      await set.forget(evict);
    }
  }

  /** Copies bytes of a region into a plain chunk of the upload (held under its MD5). */
  private async keepAsPlainChunk(
    fh: FileHandle,
    set: RegionSet,
    index: number,
    md5: string,
    fileId: string,
    size = set.lengthOf(index),
  ): Promise<boolean> {
    if ((await this.plain.held(fileId)).has(md5)) return false;
    const staged = await this.plain.stage(Readable.from(readRegion(fh, set.offsetOf(index), size)), size);
    if (staged.md5 !== md5) {
      await this.plain.discard(staged);
      throw new Error(`region ${index} of ${fileId} does not hold ${md5}`);
    }
    return this.plain.commit(staged, fileId);
  }

  /** A region of the upload's data file to write this chunk into, or undefined for a plain chunk. */
  async claim(target: ChunkTarget): Promise<InPlaceClaim | undefined> {
    const { fileId, index, size, chunkSize } = target;
    try {
      const set = await this.setFor(fileId, size, chunkSize);
      if (!set || set.size !== size || set.chunkSize !== chunkSize || set.offsetOf(index) !== target.offset)
        return undefined;
      const release = set.claim(index);
      if (!release) return undefined;
      try {
        return { set, fileId, index, fh: await set.openData(), release };
      } catch (err: unknown) {
        release();
        throw err;
      }
    } catch {
      // The upload went away, or the folder cannot take the file: a plain chunk still can.
      return undefined;
    }
  }

  /** The upload's set, created for the first in-place chunk if the plan has this layout. */
  private async setFor(fileId: string, size: number, chunkSize: number): Promise<RegionSet | undefined> {
    const set = await this.load(fileId);
    if (set) return set;
    const plan = await this.readPlan(fileId);
    if (plan?.size !== size || plan.chunkSize !== chunkSize) return undefined;
    // Single flight: concurrent first chunks share one new set (created only if still none).
    const next = (this.sets.get(fileId) ?? Promise.resolve(undefined)).then(
      (s) => s ?? RegionSet.create(this.layout.regionFiles(fileId), size, chunkSize),
    );
    this.sets.set(fileId, next);
    next.catch(() => this.sets.delete(fileId));
    return next;
  }

  /** Writes a body into its claimed region, hashing it; CHUNK_TOO_LARGE past the region or maxBytes. */
  async stage(claim: InPlaceClaim, body: Readable, maxBytes: number): Promise<LocalStagedChunk> {
    const { set, index, fh } = claim;
    const room = Math.min(maxBytes, set.lengthOf(index));
    const hash = createHash('md5');
    const out = new GatherWriter(fh, set.offsetOf(index));
    let size = 0;
    try {
      for await (const buf of body) {
        const b = buf as Buffer;
        if (size + b.length > room) {
          throw new TransferError(
            'CHUNK_TOO_LARGE',
            b.length + size > maxBytes
              ? undefined
              : `Chunk ${index} is ${set.lengthOf(index)} bytes by the plan.`,
          );
        }
        hash.update(b);
        await out.push(b);
        size += b.length;
      }
      await out.flush();
      await fh.datasync();
    } catch (err: unknown) {
      await this.discard(claim);
      throw mapFsError(err);
    }
    return { md5: hash.digest('hex'), size, inPlace: claim };
  }

  /** Under the upload's lock: the region is held only if it is where the current plan wants it. */
  async commit(staged: LocalStagedChunk, claim: InPlaceClaim, fileId: string): Promise<boolean> {
    const { set, index, fh } = claim;
    try {
      const plan = await this.readPlan(fileId);
      const current = await this.load(fileId);
      const fits =
        claim.fileId === fileId &&
        current === set &&
        !set.dead &&
        plan?.size === set.size &&
        plan.chunkSize === set.chunkSize &&
        plan.chunkIds[index]?.slice(0, 32) === staged.md5 &&
        staged.size === set.lengthOf(index);
      if (!fits) return await this.keepAsPlainChunk(fh, set, index, staged.md5, fileId, staged.size);
      const known = (await this.plain.held(fileId)).has(staged.md5) || set.holding(staged.md5) !== undefined;
      await set.record(index, staged.md5);
      return !known;
    } catch (err: unknown) {
      throw mapFsError(err);
    } finally {
      await this.discard(claim);
    }
  }

  /** Gives the claim up (the region can be written again) and closes its descriptor. */
  async discard(claim: InPlaceClaim): Promise<void> {
    claim.release();
    await claim.fh.close().catch(() => undefined);
  }
}
