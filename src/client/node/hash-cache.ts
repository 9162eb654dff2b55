/**
 * Hashes of unchanged files, one small JSON file per (file, chunk size) in
 * $XDG_CACHE_HOME/resumable-transfer/hashes (default ~/.cache/resumable-transfer/hashes), or in
 * $RESUMABLE_CACHE_DIR when it is set.
 */
import { createHash } from 'node:crypto';
import { mkdir, readdir, readFile, rename, rm, rmdir, writeFile } from 'node:fs/promises';
import { homedir } from 'node:os';
import { join } from 'node:path';
import type { FileHashes, HashCache } from '../core/ports.js';

/** Where the Node client keeps hashes (see above). */
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

/** An entry of ours (or its temporary file): nothing else in the folder is ever removed. */
const ENTRY = /^[0-9a-f]{64}\.json(\.\d+\.tmp)?$/;

/**
 * Forgets every cached hash in `dir` (default: defaultCacheDir()): the next upload of each file
 * reads it again. Removes only the cache's own files, then the folder if that left it empty.
 * Resolves with how many entries went (0 when there is no cache).
 */
export async function clearHashCache(dir = defaultCacheDir()): Promise<number> {
  let names: string[];
  try {
    names = await readdir(dir);
  } catch (err: unknown) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return 0;
    throw err;
  }
  const ours = names.filter((name) => ENTRY.test(name));
  await Promise.all(ours.map((name) => rm(join(dir, name), { force: true })));
  if (ours.length === names.length) await rmdir(dir).catch(() => undefined);
  return ours.filter((name) => name.endsWith('.json')).length;
}
