/**
 * A download written in place into `<dest>.part`, with its progress in `<dest>.part.json`
 * (the control file, like aria2's .aria2). On completion the size is checked, `.part` is renamed
 * onto `<dest>` atomically and the control file removed; the file's mtime is set to the server's
 * Last-Modified (as wget does), which is how a finished download is recognised when run again.
 */
import { type FileHandle, open, readFile, rename, rm, stat, utimes, writeFile } from 'node:fs/promises';
import { TransferError } from '../../protocol/errors.js';
import { isDownloadState } from '../core/download-state.js';
import type { DownloadState, DownloadTarget } from '../core/ports.js';
import type { DownloadInfo } from '../core/types.js';

/** The server's Last-Modified in whole seconds since the epoch, or undefined. */
function lastModifiedSeconds(info: DownloadInfo): number | undefined {
  const t = info.lastModified === null ? Number.NaN : Date.parse(info.lastModified);
  return Number.isNaN(t) ? undefined : Math.floor(t / 1000);
}

/**
 * Whether `path` is this very version of the download: a file of the server's size whose mtime
 * is exactly the server's Last-Modified (set by complete() below). A file edited here since, or
 * a new version on the server (another Last-Modified or size), is not. Without a Last-Modified
 * nothing can be proven: false.
 */
export async function holdsVersion(path: string, info: DownloadInfo): Promise<boolean> {
  const remote = lastModifiedSeconds(info);
  if (remote === undefined) return false;
  const st = await stat(path).catch(() => undefined);
  return st?.isFile() === true && st.size === info.size && st.mtimeMs === remote * 1000;
}

function localError(err: unknown, what: string): TransferError {
  return new TransferError('LOCAL_IO', `${what}: ${(err as Error).message}`, { cause: err });
}

export class FileTarget implements DownloadTarget<string> {
  private fh: FileHandle | undefined;
  readonly partPath: string;
  readonly statePath: string;

  constructor(readonly dest: string) {
    this.partPath = `${dest}.part`;
    this.statePath = `${dest}.part.json`;
  }

  async existing(info: DownloadInfo): Promise<string | undefined> {
    return (await holdsVersion(this.dest, info)) ? this.dest : undefined;
  }

  async loadState(): Promise<DownloadState | undefined> {
    try {
      const s: unknown = JSON.parse(await readFile(this.statePath, 'utf8'));
      // Progress is only trusted if the partial file is still there.
      if (
        !isDownloadState(s) ||
        !(await stat(this.partPath).then(
          () => true,
          () => false,
        ))
      )
        return undefined;
      return s;
    } catch {
      return undefined;
    }
  }

  async saveState(state: DownloadState): Promise<void> {
    try {
      await writeFile(`${this.statePath}.tmp`, JSON.stringify(state));
      await rename(`${this.statePath}.tmp`, this.statePath);
    } catch (err: unknown) {
      throw localError(err, `Cannot write ${this.statePath}`);
    }
  }

  async open(size: number, fresh: boolean): Promise<void> {
    try {
      this.fh = fresh ? await open(this.partPath, 'w+') : await open(this.partPath, 'r+');
      if (fresh) await this.fh.truncate(size);
    } catch (err: unknown) {
      throw localError(err, `Cannot open ${this.partPath}`);
    }
  }

  /** One writev per batch (a short write continues where it stopped). */
  async write(position: number, parts: readonly Uint8Array[]): Promise<void> {
    let left = parts.filter((p) => p.length > 0);
    let at = position;
    while (left.length > 0) {
      const { bytesWritten } = await this.fh!.writev(left as Uint8Array[], at);
      at += bytesWritten;
      let skip = bytesWritten;
      const rest: Uint8Array[] = [];
      for (const p of left) {
        if (skip >= p.length) skip -= p.length;
        else {
          rest.push(skip > 0 ? p.subarray(skip) : p);
          skip = 0;
        }
      }
      left = rest;
    }
  }

  async flush(): Promise<void> {
    await this.fh?.datasync();
  }

  async complete(size: number, info?: DownloadInfo): Promise<string> {
    await this.fh!.datasync();
    const st = await this.fh!.stat();
    if (st.size !== size)
      throw new TransferError('LOCAL_IO', `${this.partPath} is ${st.size} bytes, expected ${size}`);
    await this.fh!.close();
    this.fh = undefined;
    const remote = info && lastModifiedSeconds(info);
    if (remote !== undefined) await utimes(this.partPath, new Date(), remote).catch(() => undefined);
    await rename(this.partPath, this.dest);
    await rm(this.statePath, { force: true });
    return this.dest;
  }

  async close(): Promise<void> {
    const fh = this.fh;
    this.fh = undefined;
    await fh?.close().catch(() => undefined);
  }
}
