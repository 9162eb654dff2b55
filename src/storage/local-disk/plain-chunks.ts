/**
 * Plain chunks: uploads/<id>/chunks/<md5>, each received into tmp/, fsynced, then renamed in
 * (under `--durability group`, the fsyncs join the next group sync: durability.ts).
 * Content-addressed per upload, so a chunk is held whatever the plan says about its place.
 */
import { mkdir, readdir, rename, rm, stat } from 'node:fs/promises';
import type { Readable } from 'node:stream';
import { errno, GatherWriter, mapFsError } from '../../io/fs-util.js';
import { md5Fold } from '../../io/hash-folds.js';
import { TransferError } from '../../protocol/errors.js';
import { isMd5Hex } from '../../protocol/ids.js';
import type { CacheView, SharedCache } from './cache.js';
import type { Durability } from './durability.js';
import type { DiskLayout } from './layout.js';
import type { LocalStagedChunk } from './staged-chunk.js';
import type { TempFiles } from './temp-files.js';

/** A cached index entry (32-hex MD5 → size) in memory. */
const ENTRY_BYTES = 120;

export class PlainChunks {
  /** Per-upload index of held chunks (MD5 → size), read from disk on a miss (this process owns the folder). */
  private readonly index: CacheView<Map<string, number>>;

  constructor(
    private readonly layout: DiskLayout,
    private readonly temp: TempFiles,
    cache: SharedCache,
    private readonly durability: Durability,
  ) {
    this.index = cache.view<Map<string, number>>('chunks', (held) => held.size * ENTRY_BYTES);
  }

  /** MD5 → size of the upload's plain chunks. */
  held(fileId: string): Promise<ReadonlyMap<string, number>> {
    return this.loadIndex(fileId);
  }

  /** Forgets the cached index (the upload went). */
  forget(fileId: string): void {
    this.index.delete(fileId);
  }

  /**
   * Deletes these chunks if held. Not synced: a chunk a crash brings back is one its plan can
   * still not make a file with, and is removed again when it fails again.
   */
  async remove(fileId: string, md5s: ReadonlySet<string>): Promise<void> {
    const held = await this.loadIndex(fileId);
    let removed = false;
    for (const md5 of md5s) {
      if (!held.has(md5)) continue;
      await rm(this.layout.chunkPath(fileId, md5), { force: true });
      held.delete(md5);
      removed = true;
    }
    if (removed) this.index.resize(fileId);
  }

  /**
   * Streams a body into a temp file, its MD5 folded on the hash thread (io/hash-folds.ts);
   * CHUNK_TOO_LARGE past maxBytes (nothing kept).
   */
  async stage(body: Readable, maxBytes: number): Promise<LocalStagedChunk> {
    const path = this.temp.claim('chunk');
    const hash = md5Fold();
    let size = 0;
    let md5 = '';
    try {
      // The handle alone owns the descriptor (a write stream on a borrowed fd closes it on error).
      const fh = await this.temp.open(path);
      const out = new GatherWriter(fh, 0);
      try {
        for await (const buf of body) {
          size += (buf as Buffer).length;
          if (size > maxBytes) throw new TransferError('CHUNK_TOO_LARGE');
          const behind = hash.update(buf as Buffer);
          await out.push(buf as Buffer);
          if (behind) await behind;
        }
        await out.flush();
        md5 = (await hash.finish()).md5;
        // Group mode: synced where commit() renames it to.
        await this.durability.wrote(fh, null, size, true);
      } finally {
        await out.stop();
        // Never let a failing close hide the error that matters (ENOSPC, CHUNK_TOO_LARGE).
        await fh.close().catch(() => undefined);
      }
    } catch (err: unknown) {
      hash.drop();
      await this.temp.release(path);
      throw mapFsError(err);
    }
    return { md5, size, path };
  }

  /** Moves a staged temp file into chunks/<md5> unless a plain chunk with that MD5 is there. */
  async commit(staged: LocalStagedChunk, fileId: string): Promise<boolean> {
    const { path } = staged;
    if (!path) throw new Error('not a staged chunk');
    try {
      const held = await this.loadIndex(fileId);
      if (held.has(staged.md5)) return false;
      const dir = this.layout.chunksDir(fileId);
      await mkdir(dir, { recursive: true });
      const final = this.layout.chunkPath(fileId, staged.md5);
      await rename(path, final);
      await this.durability.moved(final, staged.size);
      held.set(staged.md5, staged.size);
      this.index.resize(fileId);
      return true;
    } catch (err: unknown) {
      throw mapFsError(err);
    } finally {
      await this.temp.release(path);
    }
  }

  /** Drops a staged chunk that will not be committed. */
  async discard(staged: LocalStagedChunk): Promise<void> {
    if (staged.path) await this.temp.release(staged.path);
  }

  private loadIndex(fileId: string): Promise<Map<string, number>> {
    return this.index.get(fileId, () => this.readIndex(fileId));
  }

  private async readIndex(fileId: string): Promise<Map<string, number>> {
    const held = new Map<string, number>();
    const dir = this.layout.chunksDir(fileId);
    let names: string[];
    try {
      names = await readdir(dir);
    } catch (err: unknown) {
      if (errno(err) === 'ENOENT') return held;
      throw err;
    }
    for (const name of names) {
      if (!isMd5Hex(name)) continue;
      const st = await stat(this.layout.chunkPath(fileId, name)).catch(() => undefined);
      if (st?.isFile()) held.set(name, st.size);
    }
    return held;
  }
}
