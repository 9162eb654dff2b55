/**
 * Hashes of unchanged Files in IndexedDB (via idb-keyval), keyed by name, size and lastModified:
 * after a reload, picking the same file again resumes without reading it again.
 */
import { createStore, get, set, type UseStore } from 'idb-keyval';
import type { FileHashes, HashCache } from '../core/ports.js';

export class IdbHashCache implements HashCache {
  private store: UseStore | undefined;

  private open(): UseStore | undefined {
    if (this.store === undefined && typeof indexedDB !== 'undefined') {
      this.store = createStore('resumable-transfer', 'hashes');
    }
    return this.store;
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
