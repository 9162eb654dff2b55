/**
 * The upload panel: files chosen or dropped (folders too) become rows; at most two files are
 * hashed and sent at once, the rest wait. Each row can pause (abort; the server keeps what it
 * holds), resume (upload() again: hashes come from IndexedDB, the handshake says what is missing),
 * cancel (and tell the server to drop what it holds), and retry after an error that a retry can
 * mend. A row that stops moving (the server died) says it is waiting for the server instead of
 * showing its last speed. The links of finished uploads are kept in a history (IndexedDB) and
 * listed again on the next visit, until removed or cleared.
 */

import { type Progress, TransferError, type UploadResult, upload } from '../../src/client/browser/index.js';
import { authHeaders } from './credentials.js';
import { duration, percent, size, speed } from './format.js';
import { clearHistory, forget, type HistoryEntry, listHistory, remember } from './history.js';
import { errorText, onLangChange, t, when } from './i18n.js';
import { canRetry } from './retry.js';
import { Row } from './row.js';
import { healthProbe, StallWatch } from './stall.js';

const FILES_AT_ONCE = 2;

type State = 'waiting' | 'hashing' | 'uploading' | 'paused' | 'done' | 'instant' | 'error';

class UploadItem {
  readonly row: Row;
  state: State = 'waiting';
  private progress: Progress | undefined;
  private controller: AbortController | undefined;
  private result: UploadResult | undefined;
  private error: unknown;
  private fileId: string | undefined;
  private copied = false;
  private readonly watch = new StallWatch(() => this.render(), healthProbe(authHeaders));

  constructor(
    readonly file: File,
    private readonly panel: UploadPanel,
  ) {
    this.row = new Row(file.webkitRelativePath || file.name, file.size);
    this.render();
  }

  /** The absolute link, once uploaded. */
  get link(): string | undefined {
    return this.result && new URL(this.result.url, location.href).href;
  }

  get bytesDone(): number {
    if (this.state === 'done' || this.state === 'instant') return this.file.size;
    return this.progress?.phase === 'uploading' ? this.progress.bytesDone : 0;
  }

  async run(): Promise<void> {
    this.controller = new AbortController();
    this.state = 'hashing';
    this.error = undefined;
    this.render();
    try {
      const result = await upload(this.file, {
        server: location.origin,
        headers: authHeaders(),
        signal: this.controller.signal,
        onProgress: (p) => {
          this.progress = p;
          if (p.phase === 'uploading') {
            if (this.state !== 'uploading') this.watch.start();
            this.watch.progress(p.bytesDone);
          }
          if (p.phase === 'hashing' || p.phase === 'uploading') this.state = p.phase;
          this.render();
          this.panel.renderOverall();
        },
      });
      this.result = result;
      this.fileId = result.fileId;
      this.state = result.instant ? 'instant' : 'done';
      this.row.el.dataset.bytesSent = String(result.bytesSent);
      this.row.el.dataset.hashCached = String(result.hashCached);
      this.row.el.dataset.url = result.url;
      this.panel.uploaded(this, result);
    } catch (err: unknown) {
      if (err instanceof TransferError && err.code === 'ABORTED') {
        this.state = 'paused';
      } else {
        this.error = err;
        this.state = 'error';
      }
    } finally {
      this.controller = undefined;
      this.watch.stop();
    }
    this.render();
  }

  pause(): void {
    if (this.state === 'waiting') this.state = 'paused';
    this.controller?.abort();
    this.render();
  }

  resume(): void {
    this.state = 'waiting';
    this.render();
    this.panel.pump();
  }

  cancel(): void {
    this.state = 'paused';
    this.watch.stop();
    this.controller?.abort();
    this.panel.remove(this);
    // Tell the server it can drop the chunks it holds for this file (when we know its id).
    if (this.fileId)
      void fetch(`/api/upload/${this.fileId}`, { method: 'DELETE', headers: authHeaders() }).catch(
        () => undefined,
      );
  }

  render(): void {
    const { row, file } = this;
    const p = this.progress;
    const stalled = this.state === 'uploading' ? this.watch.stalledFor() : 0;
    if (stalled > 0) row.el.dataset.stalled = 'true';
    else delete row.el.dataset.stalled;
    const labels: Record<State, () => string> = {
      waiting: () => t('waiting'),
      hashing: () => t('hashing', { pct: percent(p?.bytesDone ?? 0, file.size) }),
      uploading: () =>
        stalled > 0
          ? t('stalled', { pct: percent(p?.bytesDone ?? 0, file.size), time: duration(stalled / 1000) })
          : p && p.speed > 0
            ? t('uploading', {
                pct: percent(p.bytesDone, file.size),
                speed: speed(p.speed),
                eta: duration(p.eta),
              })
            : t('uploadingNoEta', { pct: percent(p?.bytesDone ?? 0, file.size) }),
      paused: () => t('paused', { pct: percent(this.bytesDone, file.size) }),
      done: () => t('done'),
      instant: () => t('instant'),
      error: () => t('error', { msg: errorText(this.error) }),
    };
    row.state(this.state, labels[this.state]());
    const phase = this.state === 'hashing' ? 'hashing' : undefined;
    row.progress(this.state === 'hashing' ? (p?.bytesDone ?? 0) : this.bytesDone, file.size, phase);
    row.showLink(this.result?.url ?? null);
    const pause = { name: 'pause', label: t('pause'), onClick: () => this.pause() };
    const resume = { name: 'resume', label: t('resume'), onClick: () => this.resume(), primary: true };
    const cancel = { name: 'cancel', label: t('cancel'), onClick: () => this.cancel() };
    const retry = { name: 'retry', label: t('retry'), onClick: () => this.resume(), primary: true };
    const copy = {
      name: 'copy',
      label: this.copied ? t('copied') : t('copy'),
      onClick: () => {
        void navigator.clipboard?.writeText(this.link!).then(() => {
          this.copied = true;
          this.render();
        });
      },
    };
    const remove = { name: 'remove', label: t('remove'), onClick: () => this.panel.remove(this) };
    const failed = canRetry(this.error) ? [retry, cancel] : [cancel];
    const byState: Record<State, (typeof pause)[]> = {
      waiting: [pause, cancel],
      hashing: [pause, cancel],
      uploading: [pause, cancel],
      paused: [resume, cancel],
      done: [copy, remove],
      instant: [copy, remove],
      error: failed,
    };
    row.buttons(byState[this.state]);
  }
}

export class UploadPanel {
  private readonly items: UploadItem[] = [];
  private readonly list: HTMLUListElement;
  private readonly overall: HTMLElement;
  /** What the history holds (newest first): earlier visits' uploads and this visit's. */
  private history: HistoryEntry[] = [];
  private readonly historyBox: HTMLElement;
  private readonly historyList: HTMLUListElement;
  private readonly historyNote: HTMLElement;

  constructor(root: HTMLElement) {
    this.list = root.querySelector('#upload-list')!;
    this.overall = root.querySelector('#upload-overall')!;
    this.historyBox = root.querySelector('#history')!;
    this.historyList = root.querySelector('#history-list')!;
    this.historyNote = root.querySelector('#history-note')!;
    root.querySelector('#clear-history')!.addEventListener('click', () => void this.clearHistory());
    const input = root.querySelector<HTMLInputElement>('#file-input')!;
    root.querySelector('#choose')!.addEventListener('click', () => input.click());
    input.addEventListener('change', () => {
      this.add([...(input.files ?? [])]);
      input.value = '';
    });
    const zone = root.querySelector<HTMLElement>('#drop-zone')!;
    zone.addEventListener('dragover', (e) => {
      e.preventDefault();
      zone.classList.add('over');
    });
    zone.addEventListener('dragleave', () => zone.classList.remove('over'));
    zone.addEventListener('drop', (e) => {
      e.preventDefault();
      zone.classList.remove('over');
      void filesFromDrop(e.dataTransfer).then((files) => this.add(files));
    });
    onLangChange(() => {
      for (const item of this.items) item.render();
      this.renderOverall();
      this.renderHistory();
    });
  }

  /** Lists the uploads kept from earlier visits. */
  async init(): Promise<void> {
    this.history = await listHistory();
    this.renderHistory();
  }

  /** An upload finished: its link goes into the history (on top, if it was there already). */
  uploaded(item: UploadItem, result: UploadResult): void {
    const entry: HistoryEntry = {
      url: item.link ?? new URL(result.url, location.href).href,
      name: item.file.webkitRelativePath || item.file.name,
      size: item.file.size,
      fileId: result.fileId,
      instant: result.instant,
      at: Date.now(),
    };
    this.history = [entry, ...this.history.filter((e) => e.url !== entry.url)];
    void remember(entry);
    this.renderHistory();
  }

  private forget(url: string): void {
    this.history = this.history.filter((e) => e.url !== url);
    void forget(url);
    this.renderHistory();
  }

  private async clearHistory(): Promise<void> {
    this.history = [];
    await clearHistory();
    this.renderHistory();
  }

  /**
   * The history's entries that no row of this visit shows (those are in the list above), and the
   * clear button while the history holds anything.
   */
  private renderHistory(): void {
    const shown = new Set(this.items.map((i) => i.link).filter((u) => u !== undefined));
    const earlier = this.history.filter((e) => !shown.has(e.url));
    this.historyBox.hidden = this.history.length === 0;
    this.historyNote.hidden = earlier.length > 0;
    this.historyNote.textContent = t('historyNote');
    this.historyList.replaceChildren(...earlier.map((e) => this.historyRow(e).el));
  }

  private historyRow(entry: HistoryEntry): Row {
    const row = new Row(entry.name, entry.size);
    row.el.classList.add('history-row');
    row.el.dataset.url = entry.url;
    row.progress(entry.size, entry.size);
    row.state(entry.instant ? 'instant' : 'done', t('uploadedAt', { when: when(entry.at) }));
    row.showLink(entry.url);
    let copied = false;
    const render = () =>
      row.buttons([
        {
          name: 'copy',
          label: copied ? t('copied') : t('copy'),
          onClick: () => {
            void navigator.clipboard?.writeText(entry.url).then(() => {
              copied = true;
              render();
            });
          },
        },
        { name: 'remove', label: t('remove'), onClick: () => this.forget(entry.url) },
      ]);
    render();
    return row;
  }

  add(files: File[]): void {
    for (const file of files) {
      const item = new UploadItem(file, this);
      this.items.push(item);
      this.list.append(item.row.el);
    }
    this.pump();
    this.renderOverall();
  }

  /** Starts waiting files while fewer than FILES_AT_ONCE are busy. */
  pump(): void {
    const busy = () => this.items.filter((i) => i.state === 'hashing' || i.state === 'uploading').length;
    for (const item of this.items) {
      if (busy() >= FILES_AT_ONCE) break;
      if (item.state === 'waiting') {
        void item.run().then(() => {
          this.pump();
          this.renderOverall();
        });
      }
    }
  }

  /** A row leaves the list; a finished upload's link also leaves the history (Remove means forget). */
  remove(item: UploadItem): void {
    const at = this.items.indexOf(item);
    if (at >= 0) this.items.splice(at, 1);
    item.row.el.remove();
    const link = item.link;
    if (link && !this.items.some((i) => i.link === link)) this.forget(link);
    this.pump();
    this.renderOverall();
  }

  renderOverall(): void {
    const total = this.items.reduce((s, i) => s + i.file.size, 0);
    const done = this.items.reduce((s, i) => s + i.bytesDone, 0);
    const finished = this.items.filter((i) => i.state === 'done' || i.state === 'instant').length;
    this.overall.hidden = this.items.length === 0;
    this.overall.textContent = t(this.items.length === 1 ? 'overallOne' : 'overall', {
      done: finished,
      total: this.items.length,
      bytes: size(done),
      size: size(total),
    });
  }
}

/** Files of a drop, folders walked (webkitGetAsEntry is the only folder API browsers share). */
async function filesFromDrop(data: DataTransfer | null): Promise<File[]> {
  if (!data) return [];
  const entries = [...data.items].map((i) => i.webkitGetAsEntry?.()).filter((e): e is FileSystemEntry => !!e);
  if (entries.length === 0) return [...data.files];
  const out: File[] = [];
  const walk = async (entry: FileSystemEntry): Promise<void> => {
    if (entry.isFile) {
      out.push(
        await new Promise<File>((resolve, reject) => (entry as FileSystemFileEntry).file(resolve, reject)),
      );
    } else if (entry.isDirectory) {
      const reader = (entry as FileSystemDirectoryEntry).createReader();
      // readEntries returns at most 100 entries per call: read until it returns none.
      for (;;) {
        const batch = await new Promise<FileSystemEntry[]>((resolve, reject) =>
          reader.readEntries(resolve, reject),
        );
        if (batch.length === 0) break;
        for (const child of batch) await walk(child);
      }
    }
  };
  for (const entry of entries) await walk(entry);
  return out;
}
