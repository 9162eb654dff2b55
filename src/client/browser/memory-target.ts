/**
 * The fallback where a browser has no OPFS: the download is held in memory (so only files that
 * fit, see maxMemoryBytes) and cannot survive a reload, so there is no state to keep: a failed
 * range is still retried from where it stopped (the segments live in the running download).
 */
import { TransferError } from '../../protocol/errors.js';
import type { DownloadState, DownloadTarget } from '../core/ports.js';

export class MemoryTarget implements DownloadTarget<File> {
  private bytes: Uint8Array | undefined;

  constructor(
    private readonly name: string,
    private readonly type: string,
    private readonly maxBytes: number,
  ) {}

  async loadState(): Promise<DownloadState | undefined> {
    return undefined;
  }

  async saveState(): Promise<void> {}

  async open(size: number): Promise<void> {
    if (size > this.maxBytes) {
      throw new TransferError(
        'LOCAL_IO',
        `This browser cannot store downloads on disk (no OPFS), and ${size} bytes is more than the ${this.maxBytes} it may hold in memory.`,
      );
    }
    this.bytes = new Uint8Array(size);
  }

  async write(position: number, parts: readonly Uint8Array[]): Promise<void> {
    let at = position;
    for (const p of parts) {
      this.bytes!.set(p, at);
      at += p.length;
    }
  }

  async flush(): Promise<void> {}

  async complete(size: number): Promise<File> {
    const bytes = this.bytes!;
    if (bytes.length !== size)
      throw new TransferError('LOCAL_IO', `held ${bytes.length} bytes, expected ${size}`);
    return new File([bytes as Uint8Array<ArrayBuffer>], this.name, { type: this.type });
  }

  async close(): Promise<void> {}
}
