/** Hashes of unchanged files, kept in ~/.cache/resumable-transfer (or $RESUMABLE_CACHE_DIR). */
import { createHash } from 'node:crypto';
import { mkdir, readFile, rename, writeFile } from 'node:fs/promises';
import { homedir } from 'node:os';
import { join } from 'node:path';
import type { FileHashes, HashCache } from '../core/ports.js';

export function defaultCacheDir(): string {
  if (process.env.RESUMABLE_CACHE_DIR) return process.env.RESUMABLE_CACHE_DIR;
  const base = process.env.XDG_CACHE_HOME || join(homedir(), '.cache');
  return join(base, 'resumable-transfer', 'hashes');
}

export class FileHashCache implements HashCache {
  constructor(private readonly dir = defaultCacheDir()) {}

  private path(key: string): string {
    return join(this.dir, `${createHash('sha256').update(key).digest('hex')}.json`);
  }

  async get(key: string): Promise<FileHashes | undefined> {
    try {
      const v = JSON.parse(await readFile(this.path(key), 'utf8')) as FileHashes & { key?: string };
      return v.key === key && typeof v.fileId === 'string' && Array.isArray(v.chunkIds) ? v : undefined;
    } catch {
      return undefined;
    }
  }

  async set(key: string, hashes: FileHashes): Promise<void> {
    try {
      await mkdir(this.dir, { recursive: true });
      const path = this.path(key);
      await writeFile(`${path}.${process.pid}.tmp`, JSON.stringify({ key, ...hashes }));
      await rename(`${path}.${process.pid}.tmp`, path);
    } catch {
      // A cache that cannot be written only costs a re-hash next time.
    }
  }
}
