/**
 * A download target in the Origin Private File System, for use inside a dedicated Worker:
 * FileSystemSyncAccessHandle writes in place at any offset and flush() makes them durable, which
 * is what a resumable download needs (createWritable() would stage every byte in a swap file and
 * publish only on close). The control file is rewritten in place; a torn write fails to parse and
 * the download starts over, it never claims bytes that are not there (flush before save).
 */
import { TransferError } from '../../protocol/errors.js';
import type { DownloadState, DownloadTarget } from '../core/ports.js';
import { downloadsDir, parseStored, type StoredDownload } from './opfs-store.js';

/** FileSystemSyncAccessHandle: in the WebWorker lib, which cannot share a program with DOM. */
interface SyncHandle {
  read(buffer: Uint8Array, options?: { at: number }): number;
  write(buffer: Uint8Array, options?: { at: number }): number;
  truncate(size: number): void;
  getSize(): number;
  flush(): void;
  close(): void;
}

async function syncHandle(dir: FileSystemDirectoryHandle, name: string): Promise<SyncHandle> {
  const file = (await dir.getFileHandle(name, { create: true })) as FileSystemFileHandle & {
    createSyncAccessHandle(): Promise<SyncHandle>;
  };
  return file.createSyncAccessHandle();
}

function localError(err: unknown, what: string): TransferError {
  const quota = err instanceof DOMException && err.name === 'QuotaExceededError';
  return new TransferError(
    'LOCAL_IO',
    quota ? `${what}: the browser's storage is full` : `${what}: ${String(err)}`,
    {
      cause: err,
    },
  );
}

export interface StoredResult {
  key: string;
  name: string;
  size: number;
}

export class OpfsTarget implements DownloadTarget<StoredResult> {
  private data: SyncHandle | undefined;
  private control: SyncHandle | undefined;
  private readonly encoder = new TextEncoder();

  constructor(
    private readonly key: string,
    private readonly name: string,
  ) {}

  private async controlHandle(): Promise<SyncHandle> {
    this.control ??= await syncHandle(await downloadsDir(), `${this.key}.json`);
    return this.control;
  }

  async loadState(): Promise<DownloadState | undefined> {
    try {
      const h = await this.controlHandle();
      const buf = new Uint8Array(h.getSize());
      h.read(buf, { at: 0 });
      const s = parseStored(new TextDecoder().decode(buf));
      return s && !s.complete ? s : undefined;
    } catch {
      return undefined;
    }
  }

  private writeControl(s: StoredDownload): void {
    const h = this.control!;
    const bytes = this.encoder.encode(JSON.stringify(s));
    h.truncate(0);
    h.write(bytes, { at: 0 });
    h.flush();
  }

  async saveState(state: DownloadState): Promise<void> {
    try {
      await this.controlHandle();
      this.writeControl({ ...state, key: this.key, name: this.name, complete: false });
    } catch (err: unknown) {
      throw localError(err, 'Cannot save the download state');
    }
  }

  async open(size: number, fresh: boolean): Promise<void> {
    try {
      this.data = await syncHandle(await downloadsDir(), `${this.key}.part`);
      if (fresh) {
        this.data.truncate(0);
        this.data.truncate(size);
      }
    } catch (err: unknown) {
      throw localError(err, 'Cannot open the stored download');
    }
  }

  async write(position: number, parts: readonly Uint8Array[]): Promise<void> {
    try {
      let at = position;
      for (const data of parts) {
        let done = 0;
        while (done < data.length) {
          done += this.data!.write(data.subarray(done), { at: at + done });
        }
        at += data.length;
      }
    } catch (err: unknown) {
      throw localError(err, 'Cannot store the download');
    }
  }

  async flush(): Promise<void> {
    this.data?.flush();
  }

  async complete(size: number): Promise<StoredResult> {
    const data = this.data!;
    data.flush();
    const actual = data.getSize();
    if (actual !== size) throw new TransferError('LOCAL_IO', `stored ${actual} bytes, expected ${size}`);
    // Marked complete only after the bytes are durable: after a reload it waits to be saved.
    const h = await this.controlHandle();
    const buf = new Uint8Array(h.getSize());
    h.read(buf, { at: 0 });
    const s = parseStored(new TextDecoder().decode(buf));
    if (s)
      this.writeControl({
        ...s,
        segments: s.segments.map((g) => ({ ...g, next: g.end + 1 })),
        complete: true,
      });
    return { key: this.key, name: this.name, size };
  }

  async close(): Promise<void> {
    for (const h of [this.data, this.control]) {
      try {
        h?.close();
      } catch {
        // already closed
      }
    }
    this.data = undefined;
    this.control = undefined;
  }
}
