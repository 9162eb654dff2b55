/**
 * Local-disk storage backend: the Storage interface over one data folder (layout.ts lists every
 * file it writes, when each is durable and what a restart does). This class routes each call to
 * the part that owns it: plain-chunks.ts, in-place-chunks.ts, assembly.ts, published-files.ts,
 * temp-files.ts; it keeps the plans itself.
 */
import { mkdir, readdir, readFile, rm, stat } from 'node:fs/promises';
import type { Readable } from 'node:stream';
import { errno, mapFsError, writeFileAtomic } from '../../io/fs-util.js';
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
import { Assembler } from './assembly.js';
import { InPlaceChunks } from './in-place-chunks.js';
import { DiskLayout } from './layout.js';
import { PlainChunks } from './plain-chunks.js';
import { PublishedFiles } from './published-files.js';
import type { LocalStagedChunk } from './staged-chunk.js';
import { TempFiles } from './temp-files.js';

export class LocalDiskStorage implements Storage {
  readonly placesChunks = true;
  private readonly layout: DiskLayout;
  private readonly temp: TempFiles;
  private readonly plain: PlainChunks;
  private readonly inPlace: InPlaceChunks;
  private readonly published: PublishedFiles;
  private readonly assembler: Assembler;
  /** Plans as last written or read; this process is the only writer of the folder. */
  private readonly plans = new Map<string, UploadPlan>();

  constructor(readonly root: string) {
    this.layout = new DiskLayout(root);
    this.temp = new TempFiles(this.layout);
    this.plain = new PlainChunks(this.layout, this.temp);
    this.inPlace = new InPlaceChunks(this.layout, this.plain, (fileId) => this.readPlan(fileId));
    this.published = new PublishedFiles(this.layout);
    this.assembler = new Assembler(this.layout, this.temp, this.plain, this.published);
  }

  async init(): Promise<void> {
    await mkdir(this.layout.files, { recursive: true });
    await mkdir(this.layout.uploads, { recursive: true });
    await this.temp.reset();
    // An upload whose file was published before a crash cut its clean-up is finished.
    for (const id of await readdir(this.layout.uploads)) {
      if (!isMd5Hex(id)) continue;
      if (await this.statFile(id)) await this.removeUpload(id);
    }
  }

  async close(): Promise<void> {}

  async readPlan(fileId: string): Promise<UploadPlan | undefined> {
    const cached = this.plans.get(fileId);
    if (cached) return cached;
    try {
      const plan = JSON.parse(await readFile(this.layout.planPath(fileId), 'utf8')) as UploadPlan;
      this.plans.set(fileId, plan);
      return plan;
    } catch (err: unknown) {
      if (errno(err) === 'ENOENT') return undefined;
      throw err;
    }
  }

  async writePlan(plan: UploadPlan): Promise<void> {
    try {
      await mkdir(this.layout.chunksDir(plan.fileId), { recursive: true });
    } catch (err: unknown) {
      throw mapFsError(err);
    }
    await this.inPlace.reconcile(plan);
    await writeFileAtomic(this.layout.planPath(plan.fileId), this.layout.tmp, JSON.stringify(plan));
    this.plans.set(plan.fileId, plan);
  }

  async stageChunk(body: Readable, maxBytes: number, target?: ChunkTarget): Promise<StagedChunk> {
    const claim = target ? await this.inPlace.claim(target) : undefined;
    return claim ? this.inPlace.stage(claim, body, maxBytes) : this.plain.stage(body, maxBytes);
  }

  async commitChunk(staged: StagedChunk, fileId: string): Promise<boolean> {
    const local = staged as LocalStagedChunk;
    if (local.inPlace) return this.inPlace.commit(local, local.inPlace, fileId);
    // Held at a place in the data file already: nothing to add.
    if ((await this.inPlace.load(fileId).catch(() => undefined))?.holding(staged.md5) !== undefined) {
      await this.discardChunk(staged);
      return false;
    }
    return this.plain.commit(local, fileId);
  }

  async discardChunk(staged: StagedChunk): Promise<void> {
    const local = staged as LocalStagedChunk;
    if (local.inPlace) await this.inPlace.discard(local.inPlace);
    await this.plain.discard(local);
  }

  async heldChunks(fileId: string): Promise<ReadonlyMap<string, number>> {
    const plain = await this.plain.held(fileId);
    const set = await this.inPlace.load(fileId);
    if (!set || set.held.size === 0) return plain;
    const all = new Map(plain);
    for (const [i, md5] of set.held) all.set(md5, set.lengthOf(i));
    return all;
  }

  async assemble(fileId: string, options: AssembleOptions): Promise<PublishedFile> {
    const existing = await this.statFile(fileId);
    if (existing) return existing;
    const set = await this.inPlace.load(fileId);
    if (set && !set.dead && options.md5s.length === set.count && options.expectedSize === set.size) {
      return set.assemble(async () => {
        await this.assembler.inPlace(fileId, set, options);
        return this.finishUpload(fileId);
      });
    }
    await this.assembler.fromChunks(fileId, options);
    return this.finishUpload(fileId);
  }

  /** After publication: the upload's folder goes, and the published file is what it answers. */
  private async finishUpload(fileId: string): Promise<PublishedFile> {
    await this.removeUpload(fileId);
    const published = await this.statFile(fileId);
    if (!published) throw new Error(`published file ${fileId} vanished`);
    return published;
  }

  statFile(fileId: string): Promise<PublishedFile | undefined> {
    return this.published.stat(fileId);
  }

  openFile(fileId: string): Promise<OpenedFile | undefined> {
    return this.published.open(fileId);
  }

  async removeUpload(fileId: string): Promise<void> {
    await this.inPlace.forget(fileId);
    this.plain.forget(fileId);
    this.plans.delete(fileId);
    await rm(this.layout.uploadDir(fileId), { recursive: true, force: true });
  }

  async *listUploads(): AsyncIterable<UploadSummary> {
    for (const fileId of await readdir(this.layout.uploads)) {
      if (!isMd5Hex(fileId)) continue;
      const times = await Promise.all(
        this.layout.activityPaths(fileId).map((path) =>
          stat(path).then(
            (s) => s.mtimeMs,
            () => 0,
          ),
        ),
      );
      yield { fileId, lastActivity: Math.max(...times) };
    }
  }

  sweepTemp(olderThanMs: number): Promise<number> {
    return this.temp.sweep(olderThanMs);
  }
}
