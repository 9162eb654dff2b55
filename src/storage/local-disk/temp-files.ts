/** tmp/: bytes in flight, and which of them running requests own (the sweep leaves those). */
import { mkdir, readdir, rm, stat, unlink } from 'node:fs/promises';
import { join } from 'node:path';
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

  /** Gives a claimed path up and removes whatever is still there. */
  async release(path: string): Promise<void> {
    this.inFlight.delete(path);
    await rm(path, { force: true });
  }

  /** Deletes temp files older than the given age that no running request owns. */
  async sweep(olderThanMs: number): Promise<number> {
    let removed = 0;
    const now = Date.now();
    for (const name of await readdir(this.layout.tmp)) {
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
