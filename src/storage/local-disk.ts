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
 * Cost of assembly per byte of the file: one sequential read of the chunk files (usually still
 * in the page cache, since they were just written) and one sequential write of the new file, with
 * the MD5 computed on that same pass: 2 writes and 1 read per byte end to end, counting the chunk
 * write. Writing chunks straight into one preallocated file would save a write, but would tie
 * held chunks to one chunk layout (a re-handshake with another list would lose them) and has no
 * equivalent in an object store; the page cache absorbs most of the extra read.
 */
import { createHash } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { type FileHandle, mkdir, open, readdir, readFile, rename, rm, stat, unlink } from 'node:fs/promises';
import { join } from 'node:path';
import type { Readable } from 'node:stream';
import { TransferError } from '../protocol/errors.js';
import { isMd5Hex } from '../protocol/ids.js';
import { FdSource } from './byte-source.js';
import { errno, fsyncDir, mapFsError, randomName, writeFileAtomic } from './fs-util.js';
import type {
  AssembleOptions,
  OpenedFile,
  PublishedFile,
  StagedChunk,
  Storage,
  UploadPlan,
  UploadSummary,
} from './storage.js';

interface LocalStagedChunk extends StagedChunk {
  readonly path: string;
}

/** Writes all of buf at the handle's current position. */
async function writeAll(fh: FileHandle, buf: Uint8Array): Promise<void> {
  let done = 0;
  while (done < buf.length) {
    const { bytesWritten } = await fh.write(buf, done, buf.length - done);
    done += bytesWritten;
  }
}

export class LocalDiskStorage implements Storage {
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
    await writeFileAtomic(join(dir, 'plan.json'), dir, this.tmpDir, JSON.stringify(plan));
    this.plans.set(plan.fileId, plan);
  }

  async stageChunk(body: Readable, maxBytes: number): Promise<StagedChunk> {
    const path = join(this.tmpDir, `${randomName()}.chunk`);
    this.inFlight.add(path);
    const hash = createHash('md5');
    let size = 0;
    try {
      // The handle alone owns the descriptor (a write stream on a borrowed fd closes it on error).
      const fh = await open(path, 'w');
      try {
        for await (const buf of body) {
          size += (buf as Buffer).length;
          if (size > maxBytes) throw new TransferError('CHUNK_TOO_LARGE');
          hash.update(buf as Buffer);
          await writeAll(fh, buf as Buffer);
        }
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
    const { path } = staged as LocalStagedChunk;
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

  async discardChunk(staged: StagedChunk): Promise<void> {
    const { path } = staged as LocalStagedChunk;
    this.inFlight.delete(path);
    await rm(path, { force: true });
  }

  async heldChunks(fileId: string): Promise<ReadonlyMap<string, number>> {
    return this.loadIndex(fileId);
  }

  async assemble(fileId: string, options: AssembleOptions): Promise<PublishedFile> {
    const existing = await this.statFile(fileId);
    if (existing) return existing;
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
            size += (buf as Buffer).length;
            await writeAll(fh, buf as Buffer);
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
      const publishedAt = Date.now();
      await writeFileAtomic(
        join(this.filesDir, `${fileId}.json`),
        this.filesDir,
        this.tmpDir,
        JSON.stringify({ name: options.name, ext: options.ext, size, publishedAt }),
      );
      await rename(tmp, join(this.filesDir, fileId));
      await fsyncDir(this.filesDir);
    } catch (err: unknown) {
      await rm(tmp, { force: true });
      throw mapFsError(err);
    } finally {
      this.inFlight.delete(tmp);
    }
    await this.removeUpload(fileId);
    const published = await this.statFile(fileId);
    if (!published) throw new Error(`published file ${fileId} vanished`);
    return published;
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
    this.index.delete(fileId);
    this.plans.delete(fileId);
    await rm(this.uploadDir(fileId), { recursive: true, force: true });
  }

  async *listUploads(): AsyncIterable<UploadSummary> {
    for (const fileId of await readdir(this.uploadsDir)) {
      if (!isMd5Hex(fileId)) continue;
      const times = await Promise.all(
        [join(this.uploadDir(fileId), 'plan.json'), this.chunksDir(fileId), this.uploadDir(fileId)].map((p) =>
          stat(p).then(
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
