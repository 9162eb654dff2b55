/** files/: publishing an assembled file with its sidecar, and looking published files up. */
import { readFile, rename, stat } from 'node:fs/promises';
import { FdSource } from '../../io/fd-source.js';
import { errno, fsyncDir, writeFileAtomic } from '../../io/fs-util.js';
import { md5OfKey } from '../../protocol/ids.js';
import type { AssembleOptions, OpenedFile, PublishedFile } from '../storage.js';
import type { CacheView, SharedCache } from './cache.js';
import type { DiskLayout } from './layout.js';

type Meta = { name: string | null; ext: string | null; sha256: string | null };

function describe(key: string, meta: Meta): Omit<PublishedFile, 'size' | 'mtime'> {
  return { fileId: md5OfKey(key), key, name: meta.name, ext: meta.ext, sha256: meta.sha256 };
}

export class PublishedFiles {
  /** Sidecars of published files (immutable once written), so serving a range reads no JSON. */
  private readonly metaCache: CacheView<Meta>;

  constructor(
    private readonly layout: DiskLayout,
    cache: SharedCache,
  ) {
    this.metaCache = cache.view<Meta>('meta', (m) => 2 * ((m.name?.length ?? 0) + (m.ext?.length ?? 0)) + 64);
  }

  /** Makes a verified, fsynced file visible: sidecar first, then the data file's rename. */
  async publish(
    path: string,
    key: string,
    options: AssembleOptions,
    size: number,
    sha256: string,
  ): Promise<void> {
    await writeFileAtomic(
      this.layout.sidecarPath(key),
      this.layout.tmp,
      JSON.stringify({ name: options.name, ext: options.ext, size, publishedAt: Date.now(), sha256 }),
      true,
      [],
      [this.layout.files],
    );
    // The meta cache may hold "no sidecar" for this key from a lookup before.
    this.metaCache.delete(key);
    await rename(path, this.layout.filePath(key));
    await fsyncDir(this.layout.files);
  }

  /** `key`: a store key (ids.ts fileKey). */
  async stat(key: string): Promise<PublishedFile | undefined> {
    try {
      const st = await stat(this.layout.filePath(key));
      const meta = await this.readMeta(key);
      return { ...describe(key, meta), size: st.size, mtime: st.mtime };
    } catch (err: unknown) {
      if (errno(err) === 'ENOENT') return undefined;
      throw err;
    }
  }

  async open(key: string): Promise<OpenedFile | undefined> {
    const source = FdSource.open(this.layout.filePath(key))?.source;
    if (!source) return undefined;
    const meta = await this.readMeta(key);
    return { source, file: { ...describe(key, meta), size: source.size, mtime: source.mtime } };
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
        sha256?: unknown;
      };
      return {
        name: typeof meta.name === 'string' ? meta.name : null,
        ext: typeof meta.ext === 'string' ? meta.ext : null,
        sha256: typeof meta.sha256 === 'string' && /^[0-9a-f]{64}$/.test(meta.sha256) ? meta.sha256 : null,
      };
    } catch {
      return { name: null, ext: null, sha256: null };
    }
  }
}
