/**
 * In-place chunks of one upload: which regions of uploads/<id>/data are held, which are being
 * written, and the whole-file MD5 folded in as they complete.
 *
 * When the plan fixes the layout (our clients declare size and chunkSize), chunk i is written
 * straight into the data file at i × chunkSize, so assembly is a read that verifies the MD5
 * plus a rename, instead of a second durable write of the whole file (this disk writes 1 GiB
 * durably in ~3 s: the second write was a third of an upload's time end to end).
 *
 * The rules that keep this safe (in-place-chunks.ts enforces them with this class's help):
 * - A region is written by at most one request at a time (a claim) and never again once held; a
 *   second sender of the same chunk, or any sender once assembly began, stages a plain chunk.
 * - A region is held only with exactly the length and the MD5 the current plan gives its index;
 *   anything else (a short chunk, a plan replaced mid-write) is copied out into a plain,
 *   content-addressed chunk at commit, so what was received stays held whatever the layout.
 * - A new plan with another layout, or another chunk at a held index, first evicts those regions
 *   into plain chunks ("held" never depends on the plan).
 * - The whole-file MD5 (and SHA-256) is folded in as regions complete in order, by a worker thread
 *   (fold-worker.ts), in memory only: after a restart, assembly computes it from the start.
 */
import { createHash } from 'node:crypto';
import { constants } from 'node:fs';
import { type FileHandle, open, rm, stat } from 'node:fs/promises';
import { chunkCount, chunkLength } from '../../protocol/chunk-layout.js';
import type { Durability } from './durability.js';
import { type FoldDigest, WorkerFold } from './fold-worker.js';
import type { RegionFiles } from './layout.js';
import { parseRegionLog, RegionLogWriter, readRegionLog } from './region-log.js';

const BLOCK = 4 * 1024 * 1024;
/** How long an assembly waits for a region's writer before cutting it (see drain). */
export const WRITER_GRACE_MS = 10_000;

/** Reads `length` bytes at `offset` in blocks of at most 4 MiB (a fresh buffer each). */
export async function* readRegion(fh: FileHandle, offset: number, length: number): AsyncGenerator<Buffer> {
  let done = 0;
  while (done < length) {
    const buf = Buffer.allocUnsafe(Math.min(BLOCK, length - done));
    const { bytesRead } = await fh.read(buf, 0, buf.length, offset + done);
    if (bytesRead === 0) throw new Error(`region at ${offset} ends early`);
    done += bytesRead;
    yield bytesRead === buf.length ? buf : buf.subarray(0, bytesRead);
  }
}

/** The MD5 and SHA-256 of a file's first `size` bytes, hashed on this thread (the fold worker's fallback). */
export async function digestOf(fh: FileHandle, size: number): Promise<FoldDigest> {
  const hash = createHash('md5');
  const sha = createHash('sha256');
  for await (const buf of readRegion(fh, 0, size)) {
    hash.update(buf);
    sha.update(buf);
  }
  return { md5: hash.digest('hex'), sha256: sha.digest('hex') };
}

export class RegionSet {
  /** Held regions: index → MD5. */
  private readonly heldRegions = new Map<number, string>();
  /** Regions being written, each until its claim is released; abort cuts the writer short. */
  /**
   * The regions being written, each until its writer commits or discards. `written`: its bytes
   * are all in the file (what assembly waits for); the writer may still wait for the upload's
   * lock to commit, which the assembly holds: waiting for the commit deadlocked (chaos suite).
   */
  private readonly writing = new Map<
    number,
    { written: Promise<void>; done: boolean; abort: AbortController }
  >();
  private readonly log: RegionLogWriter;
  /** The set no longer describes the upload (evicted, replaced, published, removed). */
  private isDead = false;
  /** Assembly began: no new claims. */
  private sealed = false;
  /** The running assembly, if any (a new plan waits for it). */
  private assembling: Promise<unknown> | undefined;
  private fold: WorkerFold;
  /** Regions 0..foldNext-1 were sent to the fold. */
  private foldNext = 0;

  private constructor(
    private readonly files: RegionFiles,
    readonly size: number,
    readonly chunkSize: number,
    durability: Durability,
  ) {
    this.log = new RegionLogWriter(files, size, chunkSize, durability);
    this.fold = new WorkerFold(files.data);
  }

  /** The set recorded for an upload, or undefined if it has none. */
  static async load(files: RegionFiles, durability: Durability): Promise<RegionSet | undefined> {
    const text = await readRegionLog(files);
    const contents = text === undefined ? undefined : parseRegionLog(text);
    if (!contents) return undefined;
    const set = new RegionSet(files, contents.size, contents.chunkSize, durability);
    if (!(set.chunkSize > 0)) return undefined;
    // Regions are only meaningful with their data file (created, and its entry made durable,
    // before the log): without it, nothing is held.
    const hasData = await stat(files.data).then(
      () => true,
      () => false,
    );
    for (const [index, md5] of hasData ? contents.records : []) {
      if (index < set.count) set.heldRegions.set(index, md5);
    }
    if (contents.torn || !hasData) await set.log.rewrite(set.heldRegions);
    return set;
  }

  static async create(
    files: RegionFiles,
    size: number,
    chunkSize: number,
    durability: Durability,
  ): Promise<RegionSet> {
    const set = new RegionSet(files, size, chunkSize, durability);
    // The data file first: the log's atomic write then fsyncs the folder, so both entries last.
    await (await set.openData()).close();
    await set.log.rewrite(set.heldRegions);
    return set;
  }

  get dataPath(): string {
    return this.files.data;
  }

  /** Held regions: index → MD5 (a view: only record and forget change it). */
  get held(): ReadonlyMap<number, string> {
    return this.heldRegions;
  }

  get dead(): boolean {
    return this.isDead;
  }

  get count(): number {
    return chunkCount(this.size, this.chunkSize);
  }

  offsetOf(index: number): number {
    return index * this.chunkSize;
  }

  lengthOf(index: number): number {
    return chunkLength(this.size, this.chunkSize, index);
  }

  /** The index of a held region with this MD5, if any. */
  holding(md5: string): number | undefined {
    for (const [i, m] of this.heldRegions) if (m === md5) return i;
    return undefined;
  }

  /**
   * Claims a region for one writer; undefined if it is held, being written, or assembly began.
   * The signal aborts when assembly will not wait for this writer any longer (WRITER_GRACE_MS).
   */
  claim(index: number): { written: () => void; release: () => void; signal: AbortSignal } | undefined {
    if (this.isDead || this.sealed || this.heldRegions.has(index) || this.writing.has(index)) {
      return undefined;
    }
    let resolve!: () => void;
    const abort = new AbortController();
    const writer = {
      written: new Promise<void>((r) => {
        resolve = r;
      }),
      done: false,
      abort,
    };
    const written = () => {
      writer.done = true;
      resolve();
    };
    this.writing.set(index, writer);
    return {
      written,
      release: () => {
        this.writing.delete(index);
        written();
      },
      signal: abort.signal,
    };
  }

  /**
   * Runs an assembly of this set: no claim is granted from now on, the job starts once every
   * claimed region is written, and a failed job lets claims in again.
   */
  assemble<T>(job: () => Promise<T>): Promise<T> {
    this.sealed = true;
    const run = (async () => {
      try {
        await this.drain();
        return await job();
      } catch (err: unknown) {
        this.sealed = false;
        throw err;
      }
    })();
    this.assembling = run;
    return run;
  }

  /** Resolves once the running assembly, if any, has finished (either way). */
  async settled(): Promise<void> {
    await this.assembling?.catch(() => undefined);
  }

  /**
   * Waits for the regions' writers. Every chunk is held by then, so a writer still running is a
   * second copy of a chunk (a client that retried, or a page reloaded mid-upload whose old request
   * the browser did not cut): it gets WRITER_GRACE_MS to finish, then is cut (its request answers
   * 503 and is retried), so a copy sent slowly, by accident or on purpose, cannot hold a
   * finished upload back for as long as it likes.
   */
  private async drain(): Promise<void> {
    const writing = () => [...this.writing.values()].filter((w) => !w.done);
    const waiting = () => Promise.all(writing().map((w) => w.written));
    let timer: NodeJS.Timeout | undefined;
    const late = new Promise<'late'>((resolve) => {
      timer = setTimeout(() => resolve('late'), WRITER_GRACE_MS);
    });
    try {
      while (writing().length > 0) {
        if ((await Promise.race([waiting(), late])) !== 'late') continue;
        for (const w of writing()) w.abort.abort();
        await waiting();
      }
    } finally {
      clearTimeout(timer);
    }
  }

  /** Records a region whose bytes are written as held (as durable as durability.ts says, before it resolves). */
  async record(index: number, md5: string): Promise<void> {
    await this.log.append(index, md5, this.heldRegions);
    this.heldRegions.set(index, md5);
    this.advanceFold();
  }

  /** Forgets held regions (their bytes were kept elsewhere) and rewrites the log. */
  async forget(indexes: readonly number[]): Promise<void> {
    for (const i of indexes) {
      this.heldRegions.delete(i);
      if (i < this.foldNext) this.dropFold();
    }
    await this.log.rewrite(this.heldRegions);
  }

  /** Removes the set's files; in-flight writers keep their own descriptors. */
  async destroy(): Promise<void> {
    this.markDead();
    await rm(this.files.log, { force: true });
    await rm(this.files.data, { force: true });
  }

  /** Creates the data file if needed and opens it for positional writes. */
  openData(): Promise<FileHandle> {
    return open(this.files.data, constants.O_RDWR | constants.O_CREAT);
  }

  /** Forgets the running MD5 (the set leaves memory, or a region it covered changed). */
  dropFold(): void {
    this.fold.drop();
    this.fold = new WorkerFold(this.files.data);
    this.foldNext = 0;
  }

  /** Sends held regions that continue the hashed prefix to the fold worker. */
  private advanceFold(): void {
    while (!this.isDead && this.heldRegions.has(this.foldNext)) {
      this.fold.add(this.offsetOf(this.foldNext), this.lengthOf(this.foldNext));
      this.foldNext++;
    }
  }

  /** The whole-file MD5 and SHA-256, once every region is in place (hashed here if the worker could not). */
  async finishFold(fh: FileHandle): Promise<FoldDigest> {
    for (let i = this.foldNext; i < this.count; i++) this.fold.add(this.offsetOf(i), this.lengthOf(i));
    const digest = await this.fold.digest();
    // A later assembly (if this one fails after here) starts over.
    this.dropFold();
    // The regions lie end to end from offset 0: the whole file.
    return digest ?? (await digestOf(fh, this.size));
  }

  /** The set no longer describes the upload (published, removed, replaced). */
  markDead(): void {
    this.isDead = true;
    this.fold.drop();
  }
}
