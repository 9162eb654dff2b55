/**
 * Hashes of unchanged Files in IndexedDB (via idb-keyval), keyed by name, size and lastModified:
 * after a reload, picking the same file again resumes without reading it again.
 */
import { clear, createStore, get, set, type UseStore } from 'idb-keyval';
import type { FileHashes, HashCache } from '../core/ports.js';

let shared: UseStore | undefined;

/** The page's store of hashes: database `resumable-transfer`, object store `hashes`. */
function openStore(): UseStore | undefined {
  if (shared === undefined && typeof indexedDB !== 'undefined') {
    shared = createStore('resumable-transfer', 'hashes');
  }
  return shared;
}

/** Forgets every cached hash of this origin: the next upload of each File reads it again. */
export async function clearHashCache(): Promise<void> {
  const store = openStore();
  if (store) await clear(store);
}

export class IdbHashCache implements HashCache {
  private open(): UseStore | undefined {
    return openStore();
  }

  async get(key: string): Promise<FileHashes | undefined> {
    try {
      const store = this.open();
      const v = store ? await get<FileHashes>(key, store) : undefined;
      return v && typeof v.fileId === 'string' && Array.isArray(v.chunkIds) ? v : undefined;
    } catch {
      return undefined; // private mode, quota: a cache miss only costs a re-hash
    }
  }

  async set(key: string, hashes: FileHashes): Promise<void> {
    try {
      const store = this.open();
      if (store) await set(key, hashes, store);
    } catch {
      // as above
    }
  }
}
