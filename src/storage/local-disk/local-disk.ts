/**
 * Local-disk storage backend.
 *
 * Layout under the data folder (every name below is a validated id, never raw input):
 *
 *   files/<fileId>              a published file: complete, MD5-verified, immutable. Its name is
 *                               its content's MD5, so it is never rewritten in place; served as
 *                               /upload/<fileId><ext> under any extension.
 *   files/<fileId>.json         sidecar {name, size, publishedAt}; written before the data file
 *                               is renamed into place, so a visible file always has its sidecar.
 *   uploads/<fileId>/plan.json  the last handshake's plan (ext, chunk ids in order, sizes, name).
 *   uploads/<fileId>/chunks/<md5>
 *                               a held chunk, named by its verified MD5 (content-addressed, so a
 *                               re-handshake with another chunk list keeps what matches).
 *   tmp/<random>.chunk|.file|.tmp
 *                               bytes in flight: chunks being received, files being assembled,
 *                               small files being replaced. Never served. Emptied at start (no
 *                               request can own one then) and swept while running.
 *
 * Durability (what is fsynced): a chunk file is fsynced before its rename into chunks/ and the
 * chunks/ folder after it, so an acknowledged chunk survives a crash or power cut. plan.json and
 * the sidecar are written temp-fsync-rename-fsync(folder). An assembled file is fsynced before
 * its rename into files/, and files/ after; only then is the upload folder removed.
 *
 * Chunks in place: when the plan declares size and chunkSize (our clients do), a chunk is written
 * straight into uploads/<fileId>/data at its offset and recorded in uploads/<fileId>/regions
 * (see chunk-regions.ts for the format and the rules). Assembly is then one read of the file to
 * verify its MD5 (most of it already folded in as chunks arrived in order) and a rename: 1 write
 * and ~0 extra reads per byte end to end.
 *
 * Plain chunks, otherwise (the course's client declares no layout; a second sender of a chunk
 * being written; a chunk that does not fit its place): assembly reads the chunk files and writes
 * the new file with the MD5 computed on that same pass, 2 writes and 1 read per byte end to end
 * (the page cache absorbs most of the read). Both kinds count as held, and one upload may mix them.
 */
import { createHash } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { type FileHandle, mkdir, open, readdir, readFile, rename, rm, stat, unlink } from 'node:fs/promises';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { FdSource } from '../../io/fd-source.js';
import {
  errno,
  fsyncDir,
  GatherWriter,
  mapFsError,
  randomName,
  writeAt,
  writeFileAtomic,
} from '../../io/fs-util.js';
import { TransferError } from '../../protocol/errors.js';
import { isMd5Hex } from '../../protocol/ids.js';
import type {
  AssembleOptions,
  ChunkTarget,
  OpenedFile,
  PublishedFile,
  StagedChunk,
  Storage,
  UploadPlan,
  UploadSummary,
} from '../storage.js';
import { RegionSet, readRegion } from './chunk-regions.js';

interface InPlace {
  set: RegionSet;
  fileId: string;
  index: number;
  fh: FileHandle;
  release: () => void;
}

interface LocalStagedChunk extends StagedChunk {
  /** A plain chunk's temp file. */
  readonly path?: string;
  /** A chunk written at its place in uploads/<id>/data. */
  readonly inPlace?: InPlace;
}

export class LocalDiskStorage implements Storage {
  readonly placesChunks = true;
  private readonly filesDir: string;
  private readonly uploadsDir: string;
  private readonly tmpDir: string;
  /** Per-upload index of held chunks, loaded once from disk (this process owns the folder). */
  private readonly index = new Map<string, Promise<Map<string, number>>>();
  /** Temp files owned by running requests (never swept). */
  private readonly inFlight = new Set<string>();
  /** Sidecars of published files (immutable once written), so serving a range reads no JSON. */
  private readonly metaCache = new Map<string, { name: string | null; ext: string | null }>();
  /** Plans as last written or read; this process is the only writer of the folder. */
  private readonly plans = new Map<string, UploadPlan>();
  /** In-place regions per upload, loaded once from disk (undefined: none). */
  private readonly regionSets = new Map<string, Promise<RegionSet | undefined>>();

  constructor(readonly root: string) {
    this.filesDir = join(root, 'files');
    this.uploadsDir = join(root, 'uploads');
    this.tmpDir = join(root, 'tmp');
  }

  async init(): Promise<void> {
    await mkdir(this.filesDir, { recursive: true });
    await mkdir(this.uploadsDir, { recursive: true });
    // Anything in tmp/ at start is left over from a crash: no request can own it.
    await rm(this.tmpDir, { recursive: true, force: true });
    await mkdir(this.tmpDir, { recursive: true });
    // An upload whose file was published before a crash cut its clean-up is finished.
    for (const id of await readdir(this.uploadsDir)) {
      if (!isMd5Hex(id)) continue;
      if (await this.statFile(id)) await this.removeUpload(id);
    }
  }

  async close(): Promise<void> {}

  private uploadDir(fileId: string): string {
    return join(this.uploadsDir, fileId);
  }

  private chunksDir(fileId: string): string {
    return join(this.uploadsDir, fileId, 'chunks');
  }

  async readPlan(fileId: string): Promise<UploadPlan | undefined> {
    const cached = this.plans.get(fileId);
    if (cached) return cached;
    try {
      const plan = JSON.parse(
        await readFile(join(this.uploadDir(fileId), 'plan.json'), 'utf8'),
      ) as UploadPlan;
      this.plans.set(fileId, plan);
      return plan;
    } catch (err: unknown) {
      if (errno(err) === 'ENOENT') return undefined;
      throw err;
    }
  }

  async writePlan(plan: UploadPlan): Promise<void> {
    const dir = this.uploadDir(plan.fileId);
    try {
      await mkdir(this.chunksDir(plan.fileId), { recursive: true });
    } catch (err: unknown) {
      throw mapFsError(err);
    }
    await this.reconcileRegions(plan);
    await writeFileAtomic(join(dir, 'plan.json'), dir, this.tmpDir, JSON.stringify(plan));
    this.plans.set(plan.fileId, plan);
  }

  private loadRegions(fileId: string): Promise<RegionSet | undefined> {
    let p = this.regionSets.get(fileId);
    if (!p) {
      p = RegionSet.load(this.uploadDir(fileId), this.tmpDir);
      this.regionSets.set(fileId, p);
      p.catch(() => this.regionSets.delete(fileId));
    }
    return p;
  }

  /**
   * Before a new plan takes effect: held regions it does not place where they are (another
   * layout, or another chunk at that index) are copied out into plain chunks, so they stay held.
   */
  private async reconcileRegions(plan: UploadPlan): Promise<void> {
    const set = await this.loadRegions(plan.fileId);
    if (!set) return;
    await set.assembling?.catch(() => undefined);
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
      this.regionSets.set(plan.fileId, Promise.resolve(undefined));
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
    if ((await this.loadIndex(fileId)).has(md5)) return false;
    const staged = await this.stageToTemp(Readable.from(readRegion(fh, set.offsetOf(index), size)), size);
    if (staged.md5 !== md5) {
      await this.discardChunk(staged);
      throw new Error(`region ${index} of ${fileId} does not hold ${md5}`);
    }
    return this.commitPlain(staged, fileId);
  }

  /** A region of the upload's data file to write this chunk into, or undefined for a plain chunk. */
  private async claimRegion(target: ChunkTarget): Promise<InPlace | undefined> {
    const { fileId, index, size, chunkSize } = target;
    try {
      let set = await this.loadRegions(fileId);
      if (!set) {
        const plan = await this.readPlan(fileId);
        if (plan?.size !== size || plan.chunkSize !== chunkSize) return undefined;
        // Single flight: concurrent first chunks share one new set (created only if still none).
        const next = (this.regionSets.get(fileId) ?? Promise.resolve(undefined)).then(
          (s) => s ?? RegionSet.create(this.uploadDir(fileId), this.tmpDir, size, chunkSize),
        );
        this.regionSets.set(fileId, next);
        next.catch(() => this.regionSets.delete(fileId));
        set = await next;
      }
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

  async stageChunk(body: Readable, maxBytes: number, target?: ChunkTarget): Promise<StagedChunk> {
    const inPlace = target ? await this.claimRegion(target) : undefined;
    if (!inPlace) return this.stageToTemp(body, maxBytes);
    const { set, index, fh } = inPlace;
    const offset = set.offsetOf(index);
    const room = Math.min(maxBytes, set.lengthOf(index));
    const hash = createHash('md5');
    const out = new GatherWriter(fh, offset);
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
      inPlace.release();
      await fh.close().catch(() => undefined);
      throw mapFsError(err);
    }
    const staged: LocalStagedChunk = { md5: hash.digest('hex'), size, inPlace };
    return staged;
  }

  private async stageToTemp(body: Readable, maxBytes: number): Promise<StagedChunk> {
    const path = join(this.tmpDir, `${randomName()}.chunk`);
    this.inFlight.add(path);
    const hash = createHash('md5');
    let size = 0;
    try {
      // The handle alone owns the descriptor (a write stream on a borrowed fd closes it on error).
      const fh = await open(path, 'w');
      const out = new GatherWriter(fh, 0);
      try {
        for await (const buf of body) {
          size += (buf as Buffer).length;
          if (size > maxBytes) throw new TransferError('CHUNK_TOO_LARGE');
          hash.update(buf as Buffer);
          await out.push(buf as Buffer);
        }
        await out.flush();
        await fh.sync();
      } finally {
        // Never let a failing close hide the error that matters (ENOSPC, CHUNK_TOO_LARGE).
        await fh.close().catch(() => undefined);
      }
    } catch (err: unknown) {
      this.inFlight.delete(path);
      await rm(path, { force: true });
      throw mapFsError(err);
    }
    const staged: LocalStagedChunk = { md5: hash.digest('hex'), size, path };
    return staged;
  }

  private loadIndex(fileId: string): Promise<Map<string, number>> {
    let p = this.index.get(fileId);
    if (!p) {
      p = this.readIndex(fileId);
      this.index.set(fileId, p);
      p.catch(() => this.index.delete(fileId));
    }
    return p;
  }

  private async readIndex(fileId: string): Promise<Map<string, number>> {
    const held = new Map<string, number>();
    const dir = this.chunksDir(fileId);
    let names: string[];
    try {
      names = await readdir(dir);
    } catch (err: unknown) {
      if (errno(err) === 'ENOENT') return held;
      throw err;
    }
    for (const name of names) {
      if (!isMd5Hex(name)) continue;
      const st = await stat(join(dir, name)).catch(() => undefined);
      if (st?.isFile()) held.set(name, st.size);
    }
    return held;
  }

  async commitChunk(staged: StagedChunk, fileId: string): Promise<boolean> {
    const { inPlace } = staged as LocalStagedChunk;
    if (inPlace) return this.commitInPlace(staged, inPlace, fileId);
    // Held at a place in the data file already: nothing to add.
    if ((await this.loadRegions(fileId).catch(() => undefined))?.holding(staged.md5) !== undefined) {
      await this.discardChunk(staged);
      return false;
    }
    return this.commitPlain(staged, fileId);
  }

  /** Moves a staged temp file into chunks/<md5> unless a plain chunk with that MD5 is there. */
  private async commitPlain(staged: StagedChunk, fileId: string): Promise<boolean> {
    const { path } = staged as LocalStagedChunk;
    if (!path) throw new Error('not a staged chunk');
    try {
      const held = await this.loadIndex(fileId);
      if (held.has(staged.md5)) return false;
      const dir = this.chunksDir(fileId);
      await mkdir(dir, { recursive: true });
      await rename(path, join(dir, staged.md5));
      await fsyncDir(dir);
      held.set(staged.md5, staged.size);
      return true;
    } catch (err: unknown) {
      throw mapFsError(err);
    } finally {
      this.inFlight.delete(path);
      await rm(path, { force: true });
    }
  }

  /** Under the upload's lock: the region is held only if it is where the current plan wants it. */
  private async commitInPlace(staged: StagedChunk, inPlace: InPlace, fileId: string): Promise<boolean> {
    const { set, index, fh, release } = inPlace;
    try {
      const plan = await this.readPlan(fileId);
      const current = await this.loadRegions(fileId);
      const fits =
        inPlace.fileId === fileId &&
        current === set &&
        !set.dead &&
        plan?.size === set.size &&
        plan.chunkSize === set.chunkSize &&
        plan.chunkIds[index]?.slice(0, 32) === staged.md5 &&
        staged.size === set.lengthOf(index);
      if (!fits) return await this.keepAsPlainChunk(fh, set, index, staged.md5, fileId, staged.size);
      const known = (await this.loadIndex(fileId)).has(staged.md5) || set.holding(staged.md5) !== undefined;
      await set.record(index, staged.md5);
      return !known;
    } catch (err: unknown) {
      throw mapFsError(err);
    } finally {
      release();
      await fh.close().catch(() => undefined);
    }
  }

  async discardChunk(staged: StagedChunk): Promise<void> {
    const { path, inPlace } = staged as LocalStagedChunk;
    if (inPlace) {
      inPlace.release();
      await inPlace.fh.close().catch(() => undefined);
    }
    if (path) {
      this.inFlight.delete(path);
      await rm(path, { force: true });
    }
  }

  async heldChunks(fileId: string): Promise<ReadonlyMap<string, number>> {
    const plain = await this.loadIndex(fileId);
    const set = await this.loadRegions(fileId);
    if (!set || set.held.size === 0) return plain;
    const all = new Map(plain);
    for (const [i, md5] of set.held) all.set(md5, set.lengthOf(i));
    return all;
  }

  async assemble(fileId: string, options: AssembleOptions): Promise<PublishedFile> {
    const existing = await this.statFile(fileId);
    if (existing) return existing;
    const set = await this.loadRegions(fileId);
    if (set && !set.dead && options.md5s.length === set.count && options.expectedSize === set.size) {
      const job = this.assembleInPlace(fileId, set, options);
      set.assembling = job;
      return job;
    }
    const tmp = join(this.tmpDir, `${randomName()}.file`);
    this.inFlight.add(tmp);
    try {
      const hash = createHash('md5');
      let size = 0;
      const fh = await open(tmp, 'w');
      try {
        for (const md5 of options.md5s) {
          for await (const buf of createReadStream(join(this.chunksDir(fileId), md5), {
            highWaterMark: 1024 * 1024,
          })) {
            hash.update(buf as Buffer);
            await writeAt(fh, buf as Buffer, size);
            size += (buf as Buffer).length;
          }
        }
        await fh.sync();
      } finally {
        await fh.close().catch(() => undefined);
      }
      if (hash.digest('hex') !== fileId) throw new TransferError('FILE_MD5_MISMATCH');
      if (options.expectedSize !== null && options.expectedSize !== size) {
        throw new TransferError('SIZE_MISMATCH');
      }
      await this.publish(tmp, fileId, options, size);
    } catch (err: unknown) {
      await rm(tmp, { force: true });
      throw mapFsError(err);
    } finally {
      this.inFlight.delete(tmp);
    }
    return this.finishUpload(fileId);
  }

  /** Makes a verified, fsynced file visible: sidecar first, then the data file's rename. */
  private async publish(path: string, fileId: string, options: AssembleOptions, size: number): Promise<void> {
    await writeFileAtomic(
      join(this.filesDir, `${fileId}.json`),
      this.filesDir,
      this.tmpDir,
      JSON.stringify({ name: options.name, ext: options.ext, size, publishedAt: Date.now() }),
    );
    await rename(path, join(this.filesDir, fileId));
    await fsyncDir(this.filesDir);
  }

  /** After publication: the upload's folder goes, and the published file is what it answers. */
  private async finishUpload(fileId: string): Promise<PublishedFile> {
    await this.removeUpload(fileId);
    const published = await this.statFile(fileId);
    if (!published) throw new Error(`published file ${fileId} vanished`);
    return published;
  }

  /**
   * Fills each place whose chunk arrived elsewhere (a plain chunk, or a held region with the same
   * MD5), finishes the whole-file MD5, and publishes the data file by renaming it.
   */
  private async assembleInPlace(
    fileId: string,
    set: RegionSet,
    options: AssembleOptions,
  ): Promise<PublishedFile> {
    set.sealed = true;
    try {
      await set.drain();
      const fh = await open(set.dataPath, 'r+');
      try {
        const plain = await this.loadIndex(fileId);
        let filled = false;
        for (let i = 0; i < set.count; i++) {
          const md5 = options.md5s[i]!;
          if (set.held.get(i) === md5) continue;
          const length = set.lengthOf(i);
          const j = set.holding(md5);
          let source: AsyncIterable<Buffer>;
          let plainFile: FileHandle | undefined;
          if (j !== undefined && set.lengthOf(j) === length) {
            source = readRegion(fh, set.offsetOf(j), length);
          } else if (plain.get(md5) === length) {
            plainFile = await open(join(this.chunksDir(fileId), md5), 'r');
            source = readRegion(plainFile, 0, length);
          } else {
            // The chunk held under this MD5 cannot fill this place: the file cannot have this MD5.
            throw new TransferError('SIZE_MISMATCH');
          }
          try {
            let at = set.offsetOf(i);
            for await (const buf of source) {
              await writeAt(fh, buf, at);
              at += buf.length;
            }
          } finally {
            await plainFile?.close();
          }
          filled = true;
        }
        if (filled) await fh.datasync();
        if ((await fh.stat()).size !== set.size) throw new TransferError('SIZE_MISMATCH');
        if ((await set.finishFold(fh)) !== fileId) throw new TransferError('FILE_MD5_MISMATCH');
      } finally {
        await fh.close().catch(() => undefined);
      }
      await this.publish(set.dataPath, fileId, options, set.size);
      set.markDead();
    } catch (err: unknown) {
      set.sealed = false;
      throw mapFsError(err);
    }
    return this.finishUpload(fileId);
  }

  async statFile(fileId: string): Promise<PublishedFile | undefined> {
    try {
      const st = await stat(join(this.filesDir, fileId));
      const meta = await this.readMeta(fileId);
      return { fileId, size: st.size, mtime: st.mtime, name: meta.name, ext: meta.ext };
    } catch (err: unknown) {
      if (errno(err) === 'ENOENT') return undefined;
      throw err;
    }
  }

  private async readMeta(fileId: string): Promise<{ name: string | null; ext: string | null }> {
    const cached = this.metaCache.get(fileId);
    if (cached) return cached;
    const meta = await this.readMetaFile(fileId);
    if (this.metaCache.size >= 10_000) this.metaCache.clear();
    this.metaCache.set(fileId, meta);
    return meta;
  }

  private async readMetaFile(fileId: string): Promise<{ name: string | null; ext: string | null }> {
    try {
      const meta = JSON.parse(await readFile(join(this.filesDir, `${fileId}.json`), 'utf8')) as {
        name?: unknown;
        ext?: unknown;
      };
      return {
        name: typeof meta.name === 'string' ? meta.name : null,
        ext: typeof meta.ext === 'string' ? meta.ext : null,
      };
    } catch {
      return { name: null, ext: null };
    }
  }

  async openFile(fileId: string): Promise<OpenedFile | undefined> {
    const source = FdSource.open(join(this.filesDir, fileId))?.source;
    if (!source) return undefined;
    const meta = await this.readMeta(fileId);
    return {
      source,
      file: { fileId, size: source.size, mtime: source.mtime, name: meta.name, ext: meta.ext },
    };
  }

  async removeUpload(fileId: string): Promise<void> {
    const set = await this.regionSets.get(fileId)?.catch(() => undefined);
    set?.markDead();
    this.regionSets.delete(fileId);
    this.index.delete(fileId);
    this.plans.delete(fileId);
    await rm(this.uploadDir(fileId), { recursive: true, force: true });
  }

  async *listUploads(): AsyncIterable<UploadSummary> {
    for (const fileId of await readdir(this.uploadsDir)) {
      if (!isMd5Hex(fileId)) continue;
      const times = await Promise.all(
        ['plan.json', 'chunks', 'regions', 'data', '.'].map((name) =>
          stat(join(this.uploadDir(fileId), name)).then(
            (s) => s.mtimeMs,
            () => 0,
          ),
        ),
      );
      yield { fileId, lastActivity: Math.max(...times) };
    }
  }

  async sweepTemp(olderThanMs: number): Promise<number> {
    let removed = 0;
    const now = Date.now();
    for (const name of await readdir(this.tmpDir)) {
      const path = join(this.tmpDir, name);
      if (this.inFlight.has(path)) continue;
      const st = await stat(path).catch(() => undefined);
      if (st && now - st.mtimeMs > olderThanMs) {
        await unlink(path).catch(() => undefined);
        removed++;
      }
    }
    return removed;
  }
}
