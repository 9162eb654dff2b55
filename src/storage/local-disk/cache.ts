/**
 * The backend's in-memory caches (plans, chunk indexes, region sets, sidecars) share one LRU with
 * a byte budget: an outsider can create as many uploads as the caps allow, and each one's state
 * is on disk anyway, so memory holds only the most recently used and a miss reads the disk again.
 * Sizes are estimates of the V8 heap an entry takes (a 32-hex string in an array ≈ 80 bytes).
 *
 * A load in progress is kept apart from the LRU (one per running request: bounded by them), so
 * concurrent misses share one read and the entry's size is known when it enters the LRU.
 */
import { LRUCache } from 'lru-cache';

export const DEFAULT_CACHE_BYTES = 64 * 1024 * 1024;

/** Bytes an entry is charged at least (the key, the LRU's own bookkeeping). */
const ENTRY_OVERHEAD = 200;

interface Entry {
  value: unknown;
  bytes: number;
  evicted: ((value: unknown) => void) | undefined;
}

export class SharedCache {
  private readonly lru: LRUCache<string, Entry>;

  constructor(maxBytes = DEFAULT_CACHE_BYTES) {
    this.lru = new LRUCache<string, Entry>({
      maxSize: Math.max(1, maxBytes),
      sizeCalculation: (e) => Math.max(1, e.bytes),
      dispose: (e, _key, reason) => {
        if (reason === 'evict') e.evicted?.(e.value);
      },
    });
  }

  /** A view of the cache for one kind of entry (keys are prefixed with its name). */
  view<V>(
    name: string,
    sizeOf: (value: V) => number,
    evicted?: (value: V, key: string) => void,
  ): CacheView<V> {
    return new CacheView<V>(this.lru, name, sizeOf, evicted);
  }

  /** Bytes the cached entries are charged (for tests and diagnostics). */
  get bytes(): number {
    return this.lru.calculatedSize;
  }
}

/** A typed, loading view of the shared LRU. Values may be undefined ("nothing on disk"). */
export class CacheView<V> {
  private readonly loading = new Map<string, Promise<V>>();

  constructor(
    private readonly lru: LRUCache<string, Entry>,
    private readonly name: string,
    private readonly sizeOf: (value: V) => number,
    private readonly onEvict?: (value: V, key: string) => void,
  ) {}

  /** The cached value, or the one `load` reads (concurrent misses share one load). */
  get(key: string, load: () => Promise<V>): Promise<V> {
    const hit = this.lru.get(this.key(key));
    if (hit) return Promise.resolve(hit.value as V);
    const running = this.loading.get(key);
    if (running) return running;
    const p = load().then(
      (value) => {
        if (this.loading.get(key) === p) {
          this.loading.delete(key);
          this.set(key, value);
        }
        return value;
      },
      (err: unknown) => {
        if (this.loading.get(key) === p) this.loading.delete(key);
        throw err;
      },
    );
    this.loading.set(key, p);
    return p;
  }

  /** The cached value without loading (undefined: not cached, or cached as nothing). */
  peek(key: string): V | undefined {
    return this.lru.get(this.key(key))?.value as V | undefined;
  }

  /** Replaces the value (a load still running for the key is ignored when it ends). */
  set(key: string, value: V): void {
    this.loading.delete(key);
    const evicted = this.onEvict ? (v: unknown) => this.onEvict?.(v as V, key) : undefined;
    this.lru.set(this.key(key), { value, bytes: ENTRY_OVERHEAD + this.sizeOf(value), evicted });
  }

  /** Re-charges an entry whose value grew in place (a chunk index after a commit). */
  resize(key: string): void {
    const k = this.key(key);
    const e = this.lru.get(k);
    if (e) this.lru.set(k, { ...e, bytes: ENTRY_OVERHEAD + this.sizeOf(e.value as V) });
  }

  /** Whether the key is cached (even as undefined). */
  has(key: string): boolean {
    return this.lru.has(this.key(key));
  }

  delete(key: string): void {
    this.loading.delete(key);
    this.lru.delete(this.key(key));
  }

  private key(key: string): string {
    return `${this.name}:${key}`;
  }
}
