/**
 * In-place chunks: when the plan declares size and chunkSize (our clients do), a chunk is written
 * straight into uploads/<id>/data at its offset and recorded in uploads/<id>/regions
 * (chunk-regions.ts has the rules). Assembly is then one read to verify the MD5 (most of it
 * folded in already as chunks arrived in order) and a rename: 1 write and ~0 extra reads per byte
 * end to end. A chunk that cannot go in place (no layout declared, a second sender of a chunk
 * being written, a chunk that does not fit its place) is a plain chunk instead. Sessions share the
 * data file: its layout is the one of the first session that declared one, and stays while any
 * session's plan has it; a session with another layout sends plain chunks.
 */
import { type FileHandle, open } from 'node:fs/promises';
import { Readable } from 'node:stream';
import { GatherWriter, mapFsError } from '../../io/fs-util.js';
import { md5Fold } from '../../io/hash-folds.js';
import { TransferError } from '../../protocol/errors.js';
import type { ChunkTarget, UploadPlan } from '../storage.js';
import type { CacheView, SharedCache } from './cache.js';
import { RegionSet, readRegion } from './chunk-regions.js';
import type { Durability } from './durability.js';
import type { DiskLayout } from './layout.js';
import type { PlainChunks } from './plain-chunks.js';
import type { InPlaceClaim, LocalStagedChunk } from './staged-chunk.js';

/** A held region costs a map entry (index → 32-hex MD5) in memory. */
const REGION_BYTES = 100;

export class InPlaceChunks {
  /** Region sets per upload, loaded from disk on a miss (cached as undefined: none). */
  private readonly sets: CacheView<RegionSet | undefined>;
  /**
   * Sets in use (a region being written, an assembly running): never evicted nor loaded twice,
   * since two instances would hand out claims on the same region. Bounded by running requests.
   */
  private readonly pinned = new Map<string, { set: RegionSet; uses: number }>();
  /** First in-place chunks creating an upload's set: concurrent ones share one (single flight). */
  private readonly creating = new Map<string, Promise<RegionSet>>();

  constructor(
    private readonly layout: DiskLayout,
    private readonly plain: PlainChunks,
    private readonly readPlans: (fileId: string) => Promise<readonly UploadPlan[]>,
    cache: SharedCache,
    private readonly durability: Durability,
  ) {
    this.sets = cache.view<RegionSet | undefined>(
      'regions',
      (set) => (set ? 500 + set.held.size * REGION_BYTES : 0),
      (set, fileId) => {
        // An idle set leaves memory; its running MD5 goes too (assembly re-folds from disk).
        if (set && this.pinned.get(fileId)?.set !== set) set.dropFold();
      },
    );
  }

  /** The upload's region set, if it has one. */
  load(fileId: string): Promise<RegionSet | undefined> {
    const pinned = this.pinned.get(fileId);
    if (pinned) return Promise.resolve(pinned.set);
    return this.sets.get(fileId, () => RegionSet.load(this.layout.regionFiles(fileId), this.durability));
  }

  /** Runs `job` with the set pinned in memory (an assembly of it). */
  async pinnedWhile<T>(fileId: string, set: RegionSet, job: () => Promise<T>): Promise<T> {
    this.pin(fileId, set);
    try {
      return await job();
    } finally {
      this.unpin(fileId, set);
    }
  }

  private pin(fileId: string, set: RegionSet): void {
    const p = this.pinned.get(fileId);
    if (p?.set === set) p.uses++;
    else this.pinned.set(fileId, { set, uses: 1 });
  }

  private unpin(fileId: string, set: RegionSet): void {
    const p = this.pinned.get(fileId);
    if (p?.set !== set || --p.uses > 0) return;
    this.pinned.delete(fileId);
    // Back under the LRU's rule, unless it was evicted meanwhile (then it leaves memory now).
    if (set.dead) return;
    if (this.sets.peek(fileId) === set) return;
    if (this.sets.has(fileId)) set.dropFold();
    else this.sets.set(fileId, set);
  }

  /** The upload went: its set describes nothing any more. */
  async forget(fileId: string): Promise<void> {
    const set = this.pinned.get(fileId)?.set ?? (await this.creating.get(fileId)?.catch(() => undefined));
    set?.markDead();
    this.sets.peek(fileId)?.markDead();
    this.pinned.delete(fileId);
    this.sets.delete(fileId);
  }

  /**
   * Before the upload's plans change to `plans` (a session's plan written or replaced, or an
   * assembly by a plan of another layout, which passes only its own): held regions that no plan of
   * the set's layout places where they are are copied out into plain chunks, so they stay held;
   * the set goes when no plan has its layout any more.
   */
  async reconcile(fileId: string, plans: readonly UploadPlan[]): Promise<void> {
    const set = await this.load(fileId);
    if (!set) return;
    await set.settled();
    if (set.dead) return;
    const placing = plans.filter((p) => p.size === set.size && p.chunkSize === set.chunkSize);
    const evict = [...set.held]
      .filter(([i, md5]) => !placing.some((p) => placesAt(p, i, md5)))
      .map(([i]) => i);
    await this.copyOut(fileId, set, evict);
    if (placing.length === 0) {
      await set.destroy();
      this.pinned.delete(fileId);
      this.sets.set(fileId, undefined);
    } else if (evict.length > 0) {
      await set.forget(evict);
    }
  }

  /**
   * Forgets the held regions holding these MD5s: they count as never sent, and a new copy may be
   * written over them. After a running assembly of the set has ended.
   */
  async remove(fileId: string, md5s: ReadonlySet<string>): Promise<void> {
    const set = await this.load(fileId);
    if (!set) return;
    await set.settled();
    if (set.dead) return;
    const gone = [...set.held].filter(([, md5]) => md5s.has(md5)).map(([i]) => i);
    if (gone.length > 0) await set.forget(gone);
  }

  /**
   * Held regions where `md5s` (a plan about to be assembled in place) wants another chunk: copied
   * out into plain chunks, so they stay held, and forgotten, so the assembly writes over none.
   */
  async evictDisagreeing(fileId: string, set: RegionSet, md5s: readonly string[]): Promise<void> {
    const evict = [...set.held].filter(([i, md5]) => md5s[i] !== md5).map(([i]) => i);
    if (evict.length === 0) return;
    await this.copyOut(fileId, set, evict);
    await set.forget(evict);
  }

  /** Copies these held regions into plain chunks of the upload (the set still holds them). */
  private async copyOut(fileId: string, set: RegionSet, indexes: readonly number[]): Promise<void> {
    if (indexes.length === 0) return;
    const fh = await open(set.dataPath, 'r');
    try {
      for (const i of indexes) await this.keepAsPlainChunk(fh, set, i, set.held.get(i)!, fileId);
    } finally {
      await fh.close();
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
      const claimed = set.claim(index);
      if (!claimed) return undefined;
      this.pin(fileId, set);
      const release = () => {
        claimed.release();
        this.unpin(fileId, set);
      };
      try {
        return {
          set,
          fileId,
          index,
          fh: await set.openData(),
          written: claimed.written,
          release,
          signal: claimed.signal,
        };
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
    const plans = await this.readPlans(fileId);
    if (!plans.some((p) => p.size === size && p.chunkSize === chunkSize)) return undefined;
    // Single flight: concurrent first chunks share one new set (created only if still none).
    let next = this.creating.get(fileId);
    if (!next) {
      next = (async () => {
        const again = await this.load(fileId);
        if (again) return again;
        const created = await RegionSet.create(
          this.layout.regionFiles(fileId),
          size,
          chunkSize,
          this.durability,
        );
        this.sets.set(fileId, created);
        return created;
      })().finally(() => this.creating.delete(fileId));
      this.creating.set(fileId, next);
    }
    return next;
  }

  /**
   * Writes a body into its claimed region, its MD5 folded on the hash thread (io/hash-folds.ts);
   * CHUNK_TOO_LARGE past the region or maxBytes.
   */
  async stage(claim: InPlaceClaim, body: Readable, maxBytes: number): Promise<LocalStagedChunk> {
    const { set, index, fh } = claim;
    const room = Math.min(maxBytes, set.lengthOf(index));
    const hash = md5Fold();
    const out = new GatherWriter(fh, set.offsetOf(index));
    let size = 0;
    let md5 = '';
    // Assembly stopped waiting for this copy of the chunk (RegionSet.drain): the client retries.
    const cut = () => body.destroy(new TransferError('CHUNK_SUPERSEDED'));
    claim.signal.addEventListener('abort', cut, { once: true });
    try {
      if (claim.signal.aborted) cut();
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
        const behind = hash.update(b);
        await out.push(b);
        if (behind) await behind;
        size += b.length;
      }
      await out.flush();
      md5 = (await hash.finish()).md5;
      await this.durability.wrote(fh, set.dataPath, size);
      claim.written();
    } catch (err: unknown) {
      hash.drop();
      // Nothing may write into the region once it is given up.
      await out.stop();
      await this.discard(claim);
      throw mapFsError(err);
    } finally {
      claim.signal.removeEventListener('abort', cut);
    }
    return { md5, size, inPlace: claim };
  }

  /** Under the upload's lock: the region is held only if it is where a current plan wants it. */
  async commit(staged: LocalStagedChunk, claim: InPlaceClaim, fileId: string): Promise<boolean> {
    const { set, index, fh } = claim;
    try {
      const plans = await this.readPlans(fileId);
      const current = await this.load(fileId);
      const fits =
        claim.fileId === fileId &&
        current === set &&
        !set.dead &&
        plans.some(
          (plan) =>
            plan.size === set.size && plan.chunkSize === set.chunkSize && placesAt(plan, index, staged.md5),
        ) &&
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

/**
 * Whether the plan wants these bytes at chunk `index`: its id there names them, or it is a deferred
 * upload that declared no ids (core/deferred.ts: each chunk's id carries its index, checked on
 * receipt; the commit's whole-file MD5 verifies them all at assembly).
 */
function placesAt(plan: UploadPlan, index: number, md5: string): boolean {
  if (plan.deferred && plan.chunkIds.length === 0) return index * (plan.chunkSize ?? 0) < (plan.size ?? 0);
  return plan.chunkIds[index]?.slice(0, 32) === md5;
}
