/** tmp/: bytes in flight, and which of them running requests own (the sweep leaves those). */
import { type FileHandle, mkdir, open, rm, stat, unlink } from 'node:fs/promises';
import { join } from 'node:path';
import { errno, namesIn } from '../../io/fs-util.js';
import type { DiskLayout } from './layout.js';

export class TempFiles {
  /** Temp files owned by running requests (never swept). */
  private readonly inFlight = new Set<string>();

  constructor(private readonly layout: DiskLayout) {}

  /** Empties tmp/ at start: anything there is left over from a crash, no request can own it. */
  async reset(): Promise<void> {
    await rm(this.layout.tmp, { recursive: true, force: true });
    await mkdir(this.layout.tmp, { recursive: true });
  }

  /** A fresh temp path, owned by the caller until it releases it. */
  claim(kind: 'chunk' | 'file'): string {
    const path = this.layout.tempPath(kind);
    this.inFlight.add(path);
    return path;
  }

  /**
   * Opens a claimed path for writing. tmp/ deleted under the running server (an operator cleaning
   * up) is made again, instead of every chunk and assembly failing until a restart.
   */
  async open(path: string): Promise<FileHandle> {
    try {
      return await open(path, 'w');
    } catch (err: unknown) {
      if (errno(err) !== 'ENOENT') throw err;
      await mkdir(this.layout.tmp, { recursive: true });
      return await open(path, 'w');
    }
  }

  /** Gives a claimed path up and removes whatever is still there. */
  async release(path: string): Promise<void> {
    this.inFlight.delete(path);
    await rm(path, { force: true });
  }

  /** Deletes temp files older than the given age that no running request owns. */
  async sweep(olderThanMs: number): Promise<number> {
    let removed = 0;
    const now = Date.now();
    for (const name of await namesIn(this.layout.tmp)) {
      const path = join(this.layout.tmp, name);
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
