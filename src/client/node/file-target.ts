/**
 * A download written in place into `<dest>.part`, with its progress in two control files (like
 * aria2's .aria2), each replaced atomically (a temporary file renamed over it):
 * - `<dest>.part.json`, the durable record: written after a datasync of `.part` and synced
 *   itself (every checkpointInterval, 5 s), so it claims only bytes on disk even after a crash;
 * - `<dest>.part.fast.json`, the frequent record: every second, no sync, with the boot id
 *   (boot-id.ts). A killed process leaves it true (the page cache survives); after a machine
 *   crash the boot id differs and only the durable record is trusted. Without a boot id it is not
 *   written.
 * Without sync (`sync: false`, CLI `--no-sync`: what aria2, curl and wget do) nothing is
 * fsynced; the durable record then carries the boot id too, so after a crash of the machine no
 * record is trusted and the download starts over, while a killed process still resumes.
 * On completion the size is checked, `.part` is renamed onto `<dest>` atomically and the control
 * files removed; the file's mtime is set to the server's Last-Modified (as wget does), which is
 * how a finished download is recognised when run again.
 */
import { type FileHandle, open, readFile, rename, rm, stat, utimes, writeFile } from 'node:fs/promises';
import { TransferError } from '../../protocol/errors.js';
import { furthest, isDownloadState } from '../core/download-state.js';
import type { DownloadState, DownloadTarget } from '../core/ports.js';
import type { DownloadInfo } from '../core/types.js';
import { bootId } from './boot-id.js';

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

/** A control file's record, or undefined when it is missing, torn or not one. */
async function readRecord(path: string): Promise<(DownloadState & { bootId?: unknown }) | undefined> {
  try {
    const s: unknown = JSON.parse(await readFile(path, 'utf8'));
    return isDownloadState(s) ? s : undefined;
  } catch {
    return undefined;
  }
}

export class FileTarget implements DownloadTarget<string> {
  private fh: FileHandle | undefined;
  readonly partPath: string;
  /** The durable record. */
  readonly statePath: string;
  /** The frequent record (not synced; trusted only in the boot that wrote it). */
  readonly fastPath: string;

  /** `sync`: fsync the file and the durable record (default); false: never (see the top). */
  constructor(
    readonly dest: string,
    private readonly sync = true,
  ) {
    this.partPath = `${dest}.part`;
    this.statePath = `${dest}.part.json`;
    this.fastPath = `${dest}.part.fast.json`;
  }

  async existing(info: DownloadInfo): Promise<string | undefined> {
    return (await holdsVersion(this.dest, info)) ? this.dest : undefined;
  }

  /**
   * The durable record, or the frequent one where it is further and can be trusted (written in
   * this boot, of this very download). Progress is only trusted if the partial file is still there.
   */
  async loadState(): Promise<DownloadState | undefined> {
    const durable = await readRecord(this.statePath);
    const partThere = await stat(this.partPath).then(
      () => true,
      () => false,
    );
    if (!durable || !partThere) return undefined;
    const boot = await bootId();
    // Written without sync: only as true as the page cache of the boot that wrote it.
    if (durable.bootId !== undefined && durable.bootId !== boot) return undefined;
    const recent = boot === undefined ? undefined : await readRecord(this.fastPath);
    if (!recent || recent.bootId !== boot) return durable;
    return furthest(durable, recent) ?? durable;
  }

  /**
   * The durable record: synced before the rename, so a crash leaves this one or the one before.
   * Without sync it carries the boot id, and is not written where there is none (a record that
   * cannot be told apart from one a crash made untrue would be trusted later).
   */
  async saveState(state: DownloadState): Promise<void> {
    const boot = this.sync ? undefined : await bootId();
    if (!this.sync && boot === undefined) return;
    const tmp = `${this.statePath}.tmp`;
    try {
      const fh = await open(tmp, 'w');
      try {
        await fh.writeFile(JSON.stringify(this.sync ? state : { ...state, bootId: boot }));
        if (this.sync) await fh.datasync();
      } finally {
        await fh.close();
      }
      // The folder is not synced: if the rename is lost in a crash, the record before it is
      // found, which claims less but nothing untrue.
      await rename(tmp, this.statePath);
    } catch (err: unknown) {
      throw localError(err, `Cannot write ${this.statePath}`);
    }
  }

  /** The frequent record: no sync (a kill -9 leaves it; a crash may not, hence the boot id). */
  async recordProgress(state: DownloadState): Promise<void> {
    const boot = await bootId();
    if (boot === undefined) return; // it could never be trusted on resume
    const tmp = `${this.fastPath}.tmp`;
    try {
      await writeFile(tmp, JSON.stringify({ ...state, bootId: boot }));
      await rename(tmp, this.fastPath);
    } catch (err: unknown) {
      throw localError(err, `Cannot write ${this.fastPath}`);
    }
  }

  async open(size: number, fresh: boolean): Promise<void> {
    try {
      // Starting over: no record of the old bytes may outlive them (a later run would trust it).
      if (fresh) await this.removeRecords();
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
    if (this.sync) await this.fh?.datasync();
  }

  async complete(size: number, info?: DownloadInfo): Promise<string> {
    if (this.sync) await this.fh!.datasync();
    const st = await this.fh!.stat();
    if (st.size !== size)
      throw new TransferError('LOCAL_IO', `${this.partPath} is ${st.size} bytes, expected ${size}`);
    await this.fh!.close();
    this.fh = undefined;
    const remote = info && lastModifiedSeconds(info);
    if (remote !== undefined) await utimes(this.partPath, new Date(), remote).catch(() => undefined);
    await rename(this.partPath, this.dest);
    await this.removeRecords();
    return this.dest;
  }

  /** Both control files, and the temporary files a kill mid-write may have left. */
  private async removeRecords(): Promise<void> {
    const paths = [this.statePath, this.fastPath].flatMap((p) => [p, `${p}.tmp`]);
    await Promise.all(paths.map((p) => rm(p, { force: true })));
  }

  async close(): Promise<void> {
    const fh = this.fh;
    this.fh = undefined;
    await fh?.close().catch(() => undefined);
  }
}
