/**
 * Local-disk storage backend: the Storage interface over one data folder (layout.ts lists every
 * file it writes, when each is durable and what a restart does). This class routes each call to
 * the part that owns it: plain-chunks.ts, in-place-chunks.ts, assembly.ts, published-files.ts,
 * temp-files.ts, durability.ts (when a write is durable); it keeps the plans itself.
 */
import { mkdir, readdir, readFile, rm, stat, statfs, unlink } from 'node:fs/promises';
import type { Readable } from 'node:stream';
import { errno, mapFsError, namesIn } from '../../io/fs-util.js';
import { startSmallFilesThread } from '../../io/small-files.js';
import { TransferError } from '../../protocol/errors.js';
import { isFileKey } from '../../protocol/ids.js';
import type {
  AssembleOptions,
  ChunkTarget,
  OpenedFile,
  PublishedFile,
  SpaceInfo,
  StagedChunk,
  Storage,
  UploadPlan,
  UploadSummary,
} from '../storage.js';
import { Assembler } from './assembly.js';
import { type CacheView, DEFAULT_CACHE_BYTES, SharedCache } from './cache.js';
import { Durability, type DurabilityMode, type DurabilityStart } from './durability.js';
import { InPlaceChunks } from './in-place-chunks.js';
import { DiskLayout } from './layout.js';
import { PlainChunks } from './plain-chunks.js';
import { PublishedFiles } from './published-files.js';
import type { LocalStagedChunk } from './staged-chunk.js';
import { LocalStreams } from './stream-uploads.js';
import { TempFiles } from './temp-files.js';
import { Trash } from './trash.js';

export interface LocalDiskOptions {
  /** Memory budget of every cache of upload state (plans, chunk indexes, regions, sidecars). */
  cacheBytes?: number;
  /** When a write is durable (durability.ts); default 'group'. */
  durability?: DurabilityMode;
  /** Told what durability could not do as asked (no boot id, a failed group sync). */
  warn?: (message: string, err?: unknown) => void;
}

/** A plan's chunk ids in memory: a 32–42 character string and its slot in the array. */
const PLAN_ID_BYTES = 80;

export class LocalDiskStorage implements Storage {
  readonly placesChunks = true;
  private readonly layout: DiskLayout;
  private readonly temp: TempFiles;
  private readonly trash: Trash;
  private readonly plain: PlainChunks;
  private readonly inPlace: InPlaceChunks;
  private readonly published: PublishedFiles;
  private readonly assembler: Assembler;
  /**
   * Every plan of an upload (its sessions' and the one from before sessions) as last written or
   * read, within the cache budget; this process is the only writer of the folder.
   */
  private readonly plans: CacheView<UploadPlan[]>;
  /** Every in-memory cache of upload state, under one byte budget. */
  readonly cache: SharedCache;
  /** Byte-stream uploads (tus, IETF): stream-uploads.ts. */
  readonly streams: LocalStreams;
  /** When writes are durable; init() starts it (in the writing process only). */
  readonly durability: Durability;
  private readonly warn: (message: string, err?: unknown) => void;
  /** What init() found of the last writer's stop (for the log and tests). */
  started: DurabilityStart | undefined;

  constructor(
    readonly root: string,
    options: LocalDiskOptions = {},
  ) {
    this.cache = new SharedCache(options.cacheBytes ?? DEFAULT_CACHE_BYTES);
    this.plans = this.cache.view<UploadPlan[]>('plans', (plans) =>
      plans.reduce(
        (sum, plan) => sum + plan.chunkIds.length * PLAN_ID_BYTES + 2 * (plan.name?.length ?? 0) + 400,
        0,
      ),
    );
    this.layout = new DiskLayout(root);
    this.warn = options.warn ?? (() => undefined);
    this.durability = new Durability(this.layout, options.durability ?? 'group', this.warn);
    this.temp = new TempFiles(this.layout);
    this.trash = new Trash(this.layout.trash);
    this.plain = new PlainChunks(this.layout, this.temp, this.cache, this.durability);
    this.inPlace = new InPlaceChunks(
      this.layout,
      this.plain,
      (fileId) => this.listPlans(fileId),
      this.cache,
      this.durability,
    );
    this.published = new PublishedFiles(this.layout, this.cache);
    this.assembler = new Assembler(this.layout, this.temp, this.plain, this.published);
    this.streams = new LocalStreams(this.layout, this.temp, this.trash, this.published, this.durability);
  }

  async init(): Promise<void> {
    startSmallFilesThread();
    await mkdir(this.layout.files, { recursive: true });
    await mkdir(this.layout.uploads, { recursive: true });
    await this.temp.reset();
    await this.trash.reset();
    // Before anything reads upload state: after a crash of the machine, what fails its MD5 goes.
    this.started = await this.durability.start();
    if (this.started.after === 'machine crash') {
      this.warn(
        `the last writer stopped with a crash of the machine: incomplete uploads re-verified, ${this.started.dropped ?? 0} chunks, plans or stream records forgotten`,
      );
    }
    // An upload whose file was published before a crash cut its clean-up is finished.
    for (const id of await namesIn(this.layout.uploads)) {
      if (!isFileKey(id)) continue;
      if (await this.statFile(id)) await this.removeUpload(id);
    }
  }

  /** A clean stop: everything written is made durable, and durability.json says so. */
  async close(): Promise<void> {
    await this.trash.drain();
    await this.durability.close();
  }

  async readPlan(fileId: string, session: string | null = null): Promise<UploadPlan | undefined> {
    return (await this.listPlans(fileId)).find((p) => (p.session ?? null) === session);
  }

  listPlans(fileId: string): Promise<UploadPlan[]> {
    return this.plans.get(fileId, () => this.loadPlans(fileId));
  }

  /** The plan from before sessions (if any) and every session's, read from the upload's folder. */
  private async loadPlans(fileId: string): Promise<UploadPlan[]> {
    const plans: UploadPlan[] = [];
    const read = async (path: string, session: string | null) => {
      try {
        const plan = JSON.parse(await readFile(path, 'utf8')) as UploadPlan;
        plans.push(session === null ? plan : { ...plan, fileId, session });
      } catch (err: unknown) {
        if (errno(err) !== 'ENOENT') throw mapFsError(err);
      }
    };
    const sessionNames = async (): Promise<string[]> => {
      try {
        return await readdir(this.layout.sessionsDir(fileId));
      } catch (err: unknown) {
        if (errno(err) !== 'ENOENT') throw mapFsError(err);
        return [];
      }
    };
    // The reads at once: under load each waits a turn of the event loop (a handshake made a dozen
    // such trips one after the other: 96 ms at the median during a 512 MiB upload, where a request
    // without file system work took 10).
    const [, names] = await Promise.all([read(this.layout.planPath(fileId), null), sessionNames()]);
    const sessions = names.sort().flatMap((name) => /^([0-9a-f]{32})\.json$/.exec(name)?.[1] ?? []);
    await Promise.all(sessions.map((session) => read(this.layout.sessionPlanPath(fileId, session), session)));
    // In a fixed order (the plan from before sessions first, then by session), whatever read first.
    return plans.sort((a, b) => (a.session ?? '').localeCompare(b.session ?? ''));
  }

  async writePlan(plan: UploadPlan): Promise<void> {
    const session = plan.session ?? null;
    const others = (await this.listPlans(plan.fileId)).filter((p) => (p.session ?? null) !== session);
    const next = [...others, plan];
    await this.inPlace.reconcile(plan.fileId, next);
    // Group mode: not synced per handshake; a plan lost in a crash of the machine is written
    // again by the client's next handshake. The upload's folders are made in the same trip.
    const dir = this.layout.uploadDir(plan.fileId);
    const dirs = [dir, this.layout.chunksDir(plan.fileId)];
    if (session !== null) dirs.push(this.layout.sessionsDir(plan.fileId));
    await this.durability.replaceFile(
      this.layout.sessionPlanPath(plan.fileId, session),
      JSON.stringify(plan),
      dirs,
    );
    this.plans.set(plan.fileId, next);
  }

  async removePlan(fileId: string, session: string | null): Promise<void> {
    const plans = await this.listPlans(fileId);
    try {
      await unlink(this.layout.sessionPlanPath(fileId, session));
    } catch (err: unknown) {
      if (errno(err) !== 'ENOENT') throw mapFsError(err);
    }
    this.plans.set(
      fileId,
      plans.filter((p) => (p.session ?? null) !== session),
    );
  }

  async removeChunks(fileId: string, md5s: readonly string[]): Promise<void> {
    const gone = new Set(md5s);
    if (gone.size === 0) return;
    await this.inPlace.remove(fileId, gone);
    await this.plain.remove(fileId, gone);
  }

  async stageChunk(body: Readable, maxBytes: number, target?: ChunkTarget): Promise<StagedChunk> {
    if (!target) return this.plain.stage(body, maxBytes);
    return this.unlessGone(target.fileId, async () => {
      const claim = await this.inPlace.claim(target);
      return claim ? this.inPlace.stage(claim, body, maxBytes) : this.plain.stage(body, maxBytes);
    });
  }

  commitChunk(staged: StagedChunk, fileId: string): Promise<boolean> {
    return this.unlessGone(fileId, () => this.commitHere(staged, fileId));
  }

  /**
   * Runs work on an upload's files. When one of them turns out to be gone (an operator deleted
   * uploads/ under the running server; the upload removed meanwhile, by an assembly that published
   * it too), recognised by ENOENT on a path inside the upload's folder, what this process remembers
   * of the upload is forgotten and the client is told the upload is not found, so its next
   * handshake starts from what the disk holds: the caches still claimed the chunks, and every
   * retry answered 500 until a restart.
   */
  private async unlessGone<T>(fileId: string, work: () => Promise<T>): Promise<T> {
    try {
      return await work();
    } catch (err: unknown) {
      const path = (err as { path?: unknown }).path;
      const inside = typeof path === 'string' && path.startsWith(`${this.layout.uploadDir(fileId)}/`);
      if (errno(err) !== 'ENOENT' || !inside) throw err;
      await this.inPlace.forget(fileId).catch(() => undefined);
      this.plain.forget(fileId);
      this.plans.delete(fileId);
      throw new TransferError(
        'UPLOAD_NOT_FOUND',
        "The upload's files are gone from the server: handshake again.",
        {
          cause: err,
        },
      );
    }
  }

  private async commitHere(staged: StagedChunk, fileId: string): Promise<boolean> {
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
    // At once: each is a trip through the thread pool and back through a busy event loop.
    const [plain, set] = await Promise.all([this.plain.held(fileId), this.inPlace.load(fileId)]);
    if (!set || set.held.size === 0) return plain;
    const all = new Map(plain);
    for (const [i, md5] of set.held) all.set(md5, set.lengthOf(i));
    return all;
  }

  /**
   * A chunk or data file of the upload found gone under the assembly (another assembly published
   * the file and removed the upload since the caller saw it complete, or an operator deleted it)
   * rejects UPLOAD_NOT_FOUND: the core decides what that request is answered (core/assembly.ts).
   */
  assemble(fileId: string, options: AssembleOptions): Promise<PublishedFile> {
    return this.unlessGone(fileId, () => this.assembleHere(fileId, options));
  }

  private async assembleHere(fileId: string, options: AssembleOptions): Promise<PublishedFile> {
    const set = await this.inPlace.load(fileId);
    if (set && !set.dead && options.md5s.length === set.count && options.expectedSize === set.size) {
      // Held regions this plan wants other chunks at (another session's) become plain chunks
      // first: assembly fills every place it does not find its chunk in, and over another
      // session's region that wrote a stranger's bytes into the owner's file, recorded as the
      // owner's. One stray region costs a copy of itself, not the whole file off this path.
      await this.inPlace.evictDisagreeing(fileId, set, options.md5s);
      return this.inPlace.pinnedWhile(fileId, set, () =>
        set.assemble(async () => {
          // Group mode: what the file is made of is durable before it is read and published.
          await this.durability.flush();
          return this.finishUpload(fileId, await this.assembler.inPlace(fileId, set, options));
        }),
      );
    }
    // Chunks held in a data file of another layout (another session's) are read as plain chunks.
    if (set && !set.dead) await this.inPlace.reconcile(fileId, []);
    await this.durability.flush();
    return this.finishUpload(fileId, await this.assembler.fromChunks(fileId, options));
  }

  /** After publication: the upload's folder goes, and the published file is what it answers. */
  private async finishUpload(fileId: string, made: PublishedFile | string): Promise<PublishedFile> {
    await this.removeUpload(fileId);
    if (typeof made !== 'string') return made;
    const published = await this.statFile(made);
    if (!published) throw new Error(`published file ${made} vanished`);
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
    await this.trash.discard(this.layout.uploadDir(fileId));
  }

  async *listUploads(): AsyncIterable<UploadSummary> {
    for (const fileId of await namesIn(this.layout.uploads)) {
      if (!isFileKey(fileId)) continue;
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

  async space(): Promise<SpaceInfo> {
    try {
      const st = await statfs(this.root);
      return { free: st.bavail * st.bsize, total: st.blocks * st.bsize };
    } catch (err: unknown) {
      throw mapFsError(err);
    }
  }

  async *listFiles(): AsyncIterable<{ fileId: string; publishedAt: number }> {
    for (const name of await namesIn(this.layout.files)) {
      if (!isFileKey(name)) continue;
      const st = await stat(this.layout.filePath(name)).catch(() => undefined);
      // The data file's mtime is its publication (the rename keeps the time of its last write).
      if (st?.isFile()) yield { fileId: name, publishedAt: st.mtimeMs };
    }
  }

  async removeFile(fileId: string): Promise<boolean> {
    const path = this.layout.filePath(fileId);
    const there = await stat(path).then(
      () => true,
      () => false,
    );
    // The data file first: a file without its sidecar is never visible, a sidecar alone is inert.
    await rm(path, { force: true });
    await rm(this.layout.sidecarPath(fileId), { force: true });
    this.published.forget(fileId);
    return there;
  }
}
