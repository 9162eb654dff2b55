/**
 * The download panel: the server's library as cards (the images themselves as thumbnails), and a
 * list of downloads. Each download runs through our client as parallel ranges into the Origin
 * Private File System; after a reload the stored ones are listed again and continue from what is
 * stored (unless the user had paused them). When complete, the stored file is handed to the
 * browser's own download (saved to disk), then the stored copy is removed. Files that are not
 * images get an icon with their extension as their picture.
 */

import {
  type BrowserDownload,
  bytesDone,
  download,
  listStoredDownloads,
  opfsAvailable,
  type Progress,
  removeStoredDownload,
  type StoredDownload,
  storedFile,
  storedKeyOf,
  TransferError,
} from '../../src/client/browser/index.js';
import { errorFromEnvelope } from '../../src/protocol/envelope.js';
import type { LibraryEntry } from '../../src/protocol/types.js';
import { authHeaders } from './credentials.js';
import { duration, percent, size, speed } from './format.js';
import { errorText, onLangChange, t } from './i18n.js';
import { canRetry } from './retry.js';
import { Row } from './row.js';
import { healthProbe, StallWatch } from './stall.js';
import { fillThumb } from './thumb.js';

type State = 'downloading' | 'paused' | 'ready' | 'done' | 'error';

const PAUSED_KEY = 'resumable-transfer.paused';
const SAVED_KEY = 'resumable-transfer.saved';
/** Chrome reads a blob URL's bytes into the saved file after the click; give it time before removing. */
const REMOVE_AFTER_SAVE_MS = 60_000;

/** Keys of downloads the user paused, or already saved (remembered across reloads). */
function keySet(name: string): Set<string> {
  try {
    return new Set(JSON.parse(localStorage.getItem(name) ?? '[]') as string[]);
  } catch {
    return new Set();
  }
}

function markKey(name: string, key: string, on: boolean): void {
  const keys = keySet(name);
  if (on) keys.add(key);
  else keys.delete(key);
  localStorage.setItem(name, JSON.stringify([...keys]));
}

const pausedKeys = () => keySet(PAUSED_KEY);
const markPaused = (key: string, paused: boolean) => markKey(PAUSED_KEY, key, paused);

class DownloadItem {
  readonly row: Row;
  state: State = 'paused';
  private progress: Progress | undefined;
  private controller: AbortController | undefined;
  private error: unknown;
  private done = 0;
  private readonly watch = new StallWatch(() => this.render(), healthProbe(authHeaders));

  constructor(
    readonly url: string,
    readonly key: string,
    readonly name: string,
    private total: number,
    private readonly panel: DownloadPanel,
  ) {
    this.row = new Row(name, total);
    this.row.el.dataset.key = key;
  }

  /** A download found in storage after a reload. */
  restore(stored: StoredDownload): void {
    this.done = bytesDone(stored);
    this.row.el.dataset.resumedFrom = String(this.done);
    this.state = stored.complete ? 'ready' : 'paused';
    this.render();
  }

  async run(): Promise<void> {
    this.controller = new AbortController();
    this.state = 'downloading';
    this.error = undefined;
    markPaused(this.key, false);
    markKey(SAVED_KEY, this.key, false);
    this.watch.start();
    this.render();
    try {
      const d = await download(this.url, {
        headers: authHeaders(),
        signal: this.controller.signal,
        storage: opfsAvailable() ? 'opfs' : 'memory',
        onProgress: (p) => {
          this.progress = p;
          if (p.phase === 'downloading') this.watch.progress(p.bytesDone);
          this.done = p.bytesDone;
          this.total = p.bytesTotal;
          this.render();
        },
      });
      this.done = d.size;
      await this.save(d);
    } catch (err: unknown) {
      if (err instanceof TransferError && err.code === 'ABORTED') this.state = 'paused';
      else {
        this.error = err;
        this.state = 'error';
      }
    } finally {
      this.controller = undefined;
      this.watch.stop();
    }
    this.render();
  }

  /** Hands the file to the browser's download, then frees the stored copy. */
  async save(d?: BrowserDownload): Promise<void> {
    const file = d ? await d.file() : await storedFile(this.key, this.name);
    const href = URL.createObjectURL(file);
    const a = document.createElement('a');
    a.href = href;
    a.download = this.name;
    document.body.append(a);
    a.click();
    a.remove();
    this.state = 'done';
    this.row.el.dataset.saved = 'true';
    // If the page is closed before the stored copy is removed, the next visit removes it.
    markKey(SAVED_KEY, this.key, true);
    this.render();
    setTimeout(() => {
      URL.revokeObjectURL(href);
      void (d ? d.remove() : removeStoredDownload(this.key)).then(() => markKey(SAVED_KEY, this.key, false));
    }, REMOVE_AFTER_SAVE_MS);
  }

  pause(): void {
    markPaused(this.key, true);
    this.controller?.abort();
  }

  discard(): void {
    this.watch.stop();
    this.controller?.abort();
    markPaused(this.key, false);
    void removeStoredDownload(this.key);
    this.panel.remove(this);
  }

  render(): void {
    const p = this.progress;
    const pct = percent(this.done, this.total);
    const stalled = this.state === 'downloading' ? this.watch.stalledFor() : 0;
    if (stalled > 0) this.row.el.dataset.stalled = 'true';
    else delete this.row.el.dataset.stalled;
    const labels: Record<State, () => string> = {
      downloading: () =>
        stalled > 0
          ? t('stalled', { pct, time: duration(stalled / 1000) })
          : p && p.speed > 0 && p.phase === 'downloading'
            ? t('downloading', { pct, speed: speed(p.speed), eta: duration(p.eta) })
            : t('downloadingNoEta', { pct }),
      paused: () => t('paused', { pct }),
      ready: () => t('ready'),
      done: () => (p?.restarted ? `${t('downloaded')} · ${t('restarted')}` : t('downloaded')),
      error: () => t('error', { msg: errorText(this.error) }),
    };
    this.row.state(this.state, labels[this.state]());
    this.row.progress(this.done, this.total);
    const pause = { name: 'pause', label: t('pause'), onClick: () => this.pause() };
    const resume = { name: 'resume', label: t('resume'), primary: true, onClick: () => void this.run() };
    const retry = { name: 'retry', label: t('retry'), primary: true, onClick: () => void this.run() };
    const cancel = { name: 'cancel', label: t('cancel'), onClick: () => this.discard() };
    const save = { name: 'save', label: t('save'), primary: true, onClick: () => void this.save() };
    const remove = { name: 'remove', label: t('remove'), onClick: () => this.panel.remove(this) };
    const byState: Record<State, (typeof pause)[]> = {
      downloading: [pause, cancel],
      paused: [resume, cancel],
      ready: [save, cancel],
      done: [remove],
      error: canRetry(this.error) ? [retry, cancel] : [cancel],
    };
    this.row.buttons(byState[this.state]);
  }
}

export class DownloadPanel {
  private readonly items = new Map<string, DownloadItem>();
  private readonly list: HTMLUListElement;
  private readonly cards: HTMLElement;
  private readonly note: HTMLElement;
  private library: LibraryEntry[] = [];
  private libraryError: unknown;

  constructor(root: HTMLElement) {
    this.list = root.querySelector('#download-list')!;
    this.cards = root.querySelector('#library')!;
    this.note = root.querySelector('#download-note')!;
    onLangChange(() => {
      for (const item of this.items.values()) item.render();
      this.renderLibrary();
    });
  }

  async init(): Promise<void> {
    this.note.hidden = opfsAvailable();
    this.note.textContent = t('memoryFallback');
    const [files, stored] = await Promise.all([
      fetch('/api/files', { headers: authHeaders() })
        .then(async (r) => {
          // An error answer (a refused token, say) is shown as the server words it; the page
          // still becomes usable.
          const body: unknown = await r.json().catch(() => undefined);
          const error = errorFromEnvelope(body, r.status);
          if (error) throw error;
          const data = (body as { data?: unknown } | undefined)?.data;
          if (!r.ok || !Array.isArray(data))
            throw new TransferError('BAD_RESPONSE', undefined, { status: r.status });
          return data as LibraryEntry[];
        })
        .catch((err: unknown) => {
          this.libraryError = err;
          return [];
        }),
      listStoredDownloads().catch(() => []),
    ]);
    this.library = files;
    this.renderLibrary();
    const paused = pausedKeys();
    const saved = keySet(SAVED_KEY);
    for (const s of stored) {
      if (s.complete && saved.has(s.key)) {
        // Saved on an earlier visit; only its stored copy was left.
        void removeStoredDownload(s.key).then(() => markKey(SAVED_KEY, s.key, false));
        continue;
      }
      const item = this.item(s.url, s.key, s.name, s.size);
      item.restore(s);
      if (!s.complete && !paused.has(s.key)) void item.run();
    }
  }

  private item(url: string, key: string, name: string, total: number): DownloadItem {
    let item = this.items.get(key);
    if (!item) {
      item = new DownloadItem(url, key, name, total, this);
      this.items.set(key, item);
      this.list.append(item.row.el);
    }
    return item;
  }

  async start(entry: LibraryEntry): Promise<void> {
    const url = new URL(entry.url, location.href).href;
    const item = this.item(url, await storedKeyOf(url), entry.name, entry.size);
    // Already complete and stored: save it rather than fetch it again.
    if (item.state === 'ready') await item.save();
    else if (item.state !== 'downloading') await item.run();
  }

  remove(item: DownloadItem): void {
    this.items.delete(item.key);
    item.row.el.remove();
  }

  private renderLibrary(): void {
    this.note.textContent = t('memoryFallback');
    if (this.library.length === 0) {
      const p = document.createElement('p');
      p.className = 'empty';
      p.textContent = this.libraryError
        ? t('libraryError', { msg: errorText(this.libraryError) })
        : t('libraryEmpty');
      this.cards.replaceChildren(p);
      return;
    }
    this.cards.replaceChildren(
      ...this.library.map((entry) => {
        const card = document.createElement('article');
        card.className = 'card';
        card.dataset.name = entry.name;
        const thumb = document.createElement('div');
        thumb.className = 'thumb';
        fillThumb(thumb, entry, t('noExtension'));
        const meta = document.createElement('div');
        meta.className = 'card-meta';
        const name = document.createElement('span');
        name.className = 'card-name';
        name.textContent = entry.name;
        name.title = entry.name;
        const bytes = document.createElement('span');
        bytes.className = 'card-size';
        bytes.textContent = size(entry.size);
        const button = document.createElement('button');
        button.type = 'button';
        button.className = 'primary';
        button.textContent = t('download');
        button.dataset.action = 'download';
        button.addEventListener('click', () => void this.start(entry));
        meta.append(name, bytes);
        card.append(thumb, meta, button);
        return card;
      }),
    );
  }
}
