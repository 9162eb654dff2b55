/**
 * The links of finished uploads, kept in IndexedDB (idb-keyval, in a database of the page's own,
 * apart from the client's hash cache) so they are still there after a reload or on the next
 * visit, until the user removes them or clears the history. Keyed by the link: the same file
 * uploaded again is one entry, moved to the top. Where IndexedDB is unavailable (some private
 * modes) there is simply no history.
 */
import { clear, createStore, del, entries, set, type UseStore } from 'idb-keyval';

export interface HistoryEntry {
  /** The absolute link of the uploaded file. */
  url: string;
  name: string;
  size: number;
  fileId: string;
  instant: boolean;
  /** When it finished (ms since the epoch). */
  at: number;
}

/** The newest entries kept; older ones are dropped as new ones come. */
export const HISTORY_LIMIT = 200;

let store: UseStore | null | undefined;

function db(): UseStore | null {
  if (store === undefined) {
    try {
      store = typeof indexedDB === 'undefined' ? null : createStore('resumable-transfer-page', 'uploads');
    } catch {
      store = null;
    }
  }
  return store;
}

function valid(v: unknown): v is HistoryEntry {
  const e = v as HistoryEntry;
  return (
    typeof e === 'object' &&
    e !== null &&
    typeof e.url === 'string' &&
    typeof e.name === 'string' &&
    typeof e.size === 'number' &&
    typeof e.at === 'number'
  );
}

/** Newest first. */
export async function listHistory(): Promise<HistoryEntry[]> {
  const s = db();
  if (!s) return [];
  try {
    return (await entries<string, unknown>(s))
      .map(([, v]) => v)
      .filter(valid)
      .sort((a, b) => b.at - a.at);
  } catch {
    return [];
  }
}

export async function remember(entry: HistoryEntry): Promise<void> {
  const s = db();
  if (!s) return;
  try {
    await set(entry.url, entry, s);
    const all = await listHistory();
    for (const old of all.slice(HISTORY_LIMIT)) await del(old.url, s);
  } catch {
    // Quota or a blocked database: the link is still on the row, only not kept.
  }
}

export async function forget(url: string): Promise<void> {
  const s = db();
  if (s) await del(url, s).catch(() => undefined);
}

export async function clearHistory(): Promise<void> {
  const s = db();
  if (s) await clear(s).catch(() => undefined);
}
