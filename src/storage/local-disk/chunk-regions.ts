/**
 * In-place chunks for the local-disk backend (hand-written: this is the backend's own file format).
 *
 * When the plan fixes the layout (our clients declare size and chunkSize), chunk i is written
 * straight into uploads/<id>/data at i × chunkSize, so assembly is a read that verifies the MD5
 * plus a rename, instead of a second durable write of the whole file (this disk writes 1 GiB
 * durably in ~3 s: the second write was a third of an upload's time end to end).
 *
 *   uploads/<id>/data      the file being built; only the regions listed in `regions` mean anything.
 *   uploads/<id>/regions   "layout <size> <chunkSize>\n", then one "<index> <md5>\n" per held
 *                          region, appended and fdatasynced only after the region's bytes were
 *                          fdatasynced. A torn last line (a crash mid-append) is dropped on load.
 *
 * The rules that keep this safe (enforced by LocalDiskStorage with this class's help):
 * - A region is written by at most one request at a time (a claim) and never again once held; a
 *   second sender of the same chunk, or any sender once assembly began, stages a plain chunk.
 * - A region is held only with exactly the length and the MD5 the current plan gives its index;
 *   anything else (a short chunk, a plan replaced mid-write) is copied out into a plain,
 *   content-addressed chunk at commit, so what was received stays held whatever the layout.
 * - A new plan with another layout, or another chunk at a held index, first evicts those regions
 *   into plain chunks ("held" never depends on the plan).
 * - The whole-file MD5 is folded in as regions complete in order, by a worker thread
 *   (fold-worker.ts), in memory only: after a restart, assembly computes it from the start.
 */
import { createHash } from 'node:crypto';
import { constants } from 'node:fs';
import { type FileHandle, open, readFile, rm, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { errno, writeFileAtomic } from '../../io/fs-util.js';
import { isMd5Hex } from '../../protocol/ids.js';
import { WorkerFold } from './fold-worker.js';

const BLOCK = 4 * 1024 * 1024;
const RECORD = /^(\d{1,10}) ([0-9a-f]{32})$/;

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

export class RegionSet {
  /** Held regions: index → MD5. */
  readonly held = new Map<number, string>();
  /** Set when the set no longer describes the upload (evicted, replaced, published, removed). */
  dead = false;
  /** Assembly began: no new claims. */
  sealed = false;
  /** The running in-place assembly, if any (a new plan waits for it). */
  assembling: Promise<unknown> | undefined;
  private readonly writing = new Map<number, Promise<void>>();
  private fold: WorkerFold;
  /** Regions 0..foldNext-1 were sent to the fold. */
  private foldNext = 0;

  /** An append failed part-way: the log is rewritten whole before the next record. */
  private tornTail = false;

  private constructor(
    readonly dir: string,
    private readonly tmpDir: string,
    readonly size: number,
    readonly chunkSize: number,
  ) {
    this.fold = new WorkerFold(this.dataPath);
  }

  get dataPath(): string {
    return join(this.dir, 'data');
  }

  private get logPath(): string {
    return join(this.dir, 'regions');
  }

  get count(): number {
    return Math.max(1, Math.ceil(this.size / this.chunkSize));
  }

  offsetOf(index: number): number {
    return index * this.chunkSize;
  }

  lengthOf(index: number): number {
    return Math.min(this.chunkSize, this.size - index * this.chunkSize);
  }

  /** The index of a held region with this MD5, if any. */
  holding(md5: string): number | undefined {
    for (const [i, m] of this.held) if (m === md5) return i;
    return undefined;
  }

  /** The set recorded in `dir`, or undefined if the upload has none. */
  static async load(dir: string, tmpDir: string): Promise<RegionSet | undefined> {
    let text: string;
    try {
      text = await readFile(join(dir, 'regions'), 'utf8');
    } catch (err: unknown) {
      if (errno(err) === 'ENOENT') return undefined;
      throw err;
    }
    const lines = text.split('\n');
    const layout = /^layout (\d{1,16}) (\d{1,16})$/.exec(lines[0] ?? '');
    if (!layout) return undefined;
    const set = new RegionSet(dir, tmpDir, Number(layout[1]), Number(layout[2]));
    if (!(set.chunkSize > 0)) return undefined;
    // Regions are only meaningful with their data file (created, and its entry made durable,
    // before the log): without it, nothing is held.
    const hasData = await stat(set.dataPath).then(
      () => true,
      () => false,
    );
    // Every complete line but the first is a record; the text after the last newline is torn.
    for (const line of hasData ? lines.slice(1, -1) : []) {
      const m = RECORD.exec(line);
      if (!m?.[1] || !m[2] || !isMd5Hex(m[2])) continue;
      const index = Number(m[1]);
      if (index < set.count) set.held.set(index, m[2]);
    }
    if (!text.endsWith('\n') || !hasData) await set.rewrite();
    return set;
  }

  static async create(dir: string, tmpDir: string, size: number, chunkSize: number): Promise<RegionSet> {
    const set = new RegionSet(dir, tmpDir, size, chunkSize);
    // The data file first: the log's atomic write then fsyncs the folder, so both entries last.
    await (await set.openData()).close();
    await set.rewrite();
    return set;
  }

  /** Replaces the log with the layout and the held regions (atomically, durably). */
  async rewrite(): Promise<void> {
    const records = [...this.held].map(([i, m]) => `${i} ${m}\n`).join('');
    await writeFileAtomic(
      this.logPath,
      this.dir,
      this.tmpDir,
      `layout ${this.size} ${this.chunkSize}\n${records}`,
    );
    this.tornTail = false;
  }

  /** Claims a region for one writer; undefined if it is held, being written, or assembly began. */
  claim(index: number): (() => void) | undefined {
    if (this.dead || this.sealed || this.held.has(index) || this.writing.has(index)) return undefined;
    let release!: () => void;
    this.writing.set(
      index,
      new Promise<void>((resolve) => {
        release = resolve;
      }),
    );
    return () => {
      this.writing.delete(index);
      release();
    };
  }

  /** Resolves once no region is being written (called after sealing). */
  async drain(): Promise<void> {
    while (this.writing.size > 0) await Promise.all(this.writing.values());
  }

  /** Records a region whose bytes are durable as held (durable before it resolves). */
  async record(index: number, md5: string): Promise<void> {
    // After a failed append (ENOSPC mid-line), appending again could glue a new record onto the
    // torn one ("1" + "2 <md5>" reads as region 12): the log is first rewritten from memory.
    if (this.tornTail) await this.rewrite();
    const fh = await open(this.logPath, constants.O_WRONLY | constants.O_APPEND);
    try {
      await fh.write(`${index} ${md5}\n`);
      await fh.datasync();
    } catch (err: unknown) {
      this.tornTail = true;
      throw err;
    } finally {
      await fh.close();
    }
    this.held.set(index, md5);
    this.advanceFold();
  }

  /** Forgets held regions (their bytes were kept elsewhere) and rewrites the log. */
  async forget(indexes: readonly number[]): Promise<void> {
    for (const i of indexes) {
      this.held.delete(i);
      if (i < this.foldNext) this.resetFold();
    }
    await this.rewrite();
  }

  /** Removes the set's files; in-flight writers keep their own descriptors. */
  async destroy(): Promise<void> {
    this.markDead();
    await rm(this.logPath, { force: true });
    await rm(this.dataPath, { force: true });
  }

  /** Creates the data file if needed and opens it for positional writes. */
  openData(): Promise<FileHandle> {
    return open(this.dataPath, constants.O_RDWR | constants.O_CREAT);
  }

  private resetFold(): void {
    this.fold.drop();
    this.fold = new WorkerFold(this.dataPath);
    this.foldNext = 0;
  }

  /** Sends held regions that continue the hashed prefix to the fold worker. */
  private advanceFold(): void {
    while (!this.dead && this.held.has(this.foldNext)) {
      this.fold.add(this.offsetOf(this.foldNext), this.lengthOf(this.foldNext));
      this.foldNext++;
    }
  }

  /** The whole-file MD5, once every region is in place (the loop hashes it if the worker could not). */
  async finishFold(fh: FileHandle): Promise<string> {
    for (let i = this.foldNext; i < this.count; i++) this.fold.add(this.offsetOf(i), this.lengthOf(i));
    let digest = await this.fold.digest();
    // A later assembly (if this one fails after here) starts over.
    this.resetFold();
    if (digest === null) {
      const hash = createHash('md5');
      for (let i = 0; i < this.count; i++) {
        for await (const buf of readRegion(fh, this.offsetOf(i), this.lengthOf(i))) hash.update(buf);
      }
      digest = hash.digest('hex');
    }
    return digest;
  }

  /** The set no longer describes the upload (published, removed, replaced). */
  markDead(): void {
    this.dead = true;
    this.fold.drop();
  }
}
