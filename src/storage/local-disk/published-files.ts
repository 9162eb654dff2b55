/** files/: publishing an assembled file with its sidecar, and looking published files up. */
import { readFile, rename, stat } from 'node:fs/promises';
import { FdSource } from '../../io/fd-source.js';
import { errno, fsyncDir, writeFileAtomic } from '../../io/fs-util.js';
import type { AssembleOptions, OpenedFile, PublishedFile } from '../storage.js';
import type { CacheView, SharedCache } from './cache.js';
import type { DiskLayout } from './layout.js';

type Meta = { name: string | null; ext: string | null };

export class PublishedFiles {
  /** Sidecars of published files (immutable once written), so serving a range reads no JSON. */
  private readonly metaCache: CacheView<Meta>;

  constructor(
    private readonly layout: DiskLayout,
    cache: SharedCache,
  ) {
    this.metaCache = cache.view<Meta>('meta', (m) => 2 * ((m.name?.length ?? 0) + (m.ext?.length ?? 0)));
  }

  /** Makes a verified, fsynced file visible: sidecar first, then the data file's rename. */
  async publish(path: string, fileId: string, options: AssembleOptions, size: number): Promise<void> {
    await writeFileAtomic(
      this.layout.sidecarPath(fileId),
      this.layout.tmp,
      JSON.stringify({ name: options.name, ext: options.ext, size, publishedAt: Date.now() }),
    );
    await rename(path, this.layout.filePath(fileId));
    await fsyncDir(this.layout.files);
  }

  async stat(fileId: string): Promise<PublishedFile | undefined> {
    try {
      const st = await stat(this.layout.filePath(fileId));
      const meta = await this.readMeta(fileId);
      return { fileId, size: st.size, mtime: st.mtime, name: meta.name, ext: meta.ext };
    } catch (err: unknown) {
      if (errno(err) === 'ENOENT') return undefined;
      throw err;
    }
  }

  async open(fileId: string): Promise<OpenedFile | undefined> {
    const source = FdSource.open(this.layout.filePath(fileId))?.source;
    if (!source) return undefined;
    const meta = await this.readMeta(fileId);
    return {
      source,
      file: { fileId, size: source.size, mtime: source.mtime, name: meta.name, ext: meta.ext },
    };
  }

  private readMeta(fileId: string): Promise<Meta> {
    return this.metaCache.get(fileId, () => this.readSidecar(fileId));
  }

  /** A published file expired: its sidecar goes from the cache too. */
  forget(fileId: string): void {
    this.metaCache.delete(fileId);
  }

  private async readSidecar(fileId: string): Promise<Meta> {
    try {
      const meta = JSON.parse(await readFile(this.layout.sidecarPath(fileId), 'utf8')) as {
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
}
