/**
 * When a write of the local-disk backend is durable: the one place that decides (`--durability`,
 * docs/durability.md says what each mode promises).
 *
 * - `chunk`: every acknowledged write was fsynced first (a chunk's bytes and its regions line, a
 *   plain chunk's file and folder, a stream append and its record, a plan).
 * - `group` (the default): a write is acknowledged once it is written (and, as in both modes,
 *   its MD5 verified): it is in the page cache, so it survives a crash of the process (like tus's
 *   FileStore). This process's group syncer then makes everything written so far durable every
 *   GROUP_INTERVAL_MS or GROUP_BYTES, before any assembly reads or publishes a file, and on a
 *   clean stop. A crash of the machine (the boot id recorded in durability.json differs, and the
 *   last process did not stop cleanly) is detected at the next start, and recovery.ts re-verifies
 *   every held chunk of every incomplete upload, forgetting those that fail: the next handshake
 *   asks for them again. A plan lost that way is created again by the client's next handshake.
 *
 * Only the process that writes uploads (the single process, or the `--workers` owner: readers
 * never call start()) runs a syncer and writes durability.json.
 *
 * Where the boot id cannot be read (not Linux), `group` falls back to `chunk`: without it a
 * crash of the machine cannot be told from a crash of the process, and re-verifying every
 * incomplete upload at every start would make an ordinary restart read everything back.
 */
import { type FileHandle, open, readFile } from 'node:fs/promises';
import { dirname } from 'node:path';
import { errno, fsyncDir, writeFileAtomic } from '../../io/fs-util.js';
import type { DiskLayout } from './layout.js';
import { recoverAfterMachineCrash, settleUploads } from './recovery.js';

export type DurabilityMode = 'chunk' | 'group';
export const DURABILITY_MODES: readonly DurabilityMode[] = ['chunk', 'group'];

/**
 * A group sync every 500 ms: what a crash of the machine can make a client send again is at most
 * ~half a second of uploads (plus GROUP_BYTES), while one pass covers every chunk that arrived
 * meanwhile: at this machine's ingest rate (~215 MB/s, README's bench) some 13 chunks of 8 MiB,
 * whose 26 fdatasyncs (bytes, then regions line) become one per file. Measured with
 * `npm run bench -- --only 'server ingest' --durability chunk|group` (docs/durability.md): 16 →
 * 28 MB/s at 4 chunks at once, 42 → 68 at 32, on a loaded machine. The kernel alone would write
 * dirty pages back after 5–30 s (dirty_writeback_centisecs, dirty_expire_centisecs): too long a
 * window to re-send, and a publication's sync would then find it all still to write.
 */
export const GROUP_INTERVAL_MS = 500;
/**
 * ...or once 64 MiB were written since the last pass: the disk starts writing back early (as
 * RollingSync did for stream appends), so the pass before a publication has little left to do,
 * and page-cache pressure from a fast uploader stays bounded.
 */
export const GROUP_BYTES = 64 * 1024 * 1024;
/** ...or once this many files and folders wait: the syncer's memory stays bounded. */
export const GROUP_PATHS = 4096;
/** fsyncs run at once in a pass (libuv's thread pool has 4 threads; leave room for reads). */
const PASS_PARALLEL = 3;

/** durability.json: who wrote the data folder last, and whether it stopped with everything synced. */
interface Checkpoint {
  bootId: string | null;
  mode: DurabilityMode;
  /** The process stopped cleanly after a last group sync. */
  clean: boolean;
  /** A group sync failed: what it covered may be lost, the next start re-verifies. */
  verify?: boolean;
  at: string;
}

export const BOOT_ID_PATH = '/proc/sys/kernel/random/boot_id';

/** This boot's id, or null where the system does not say. */
export async function readBootId(path = BOOT_ID_PATH): Promise<string | null> {
  try {
    const id = (await readFile(path, 'utf8')).trim();
    return id.length > 0 ? id : null;
  } catch {
    return null;
  }
}

/** What start() found and did, for the log. */
export interface DurabilityStart {
  mode: DurabilityMode;
  after: 'fresh' | 'clean stop' | 'process crash' | 'machine crash';
  /** Chunks and regions forgotten, streams rolled back or removed, plans removed (after a machine crash). */
  dropped?: number;
}

export class Durability {
  private effective: DurabilityMode;
  private bootId: string | null = null;
  private started = false;
  private failed = false;
  private readonly files = new Set<string>();
  private readonly dirs = new Set<string>();
  /** Work that must follow the files' sync (a stream's durable record), latest per key. */
  private readonly after = new Map<string, () => Promise<void>>();
  private bytes = 0;
  private timer: NodeJS.Timeout | undefined;
  private running: Promise<void> | undefined;
  private queued: Promise<void> | undefined;

  constructor(
    private readonly layout: DiskLayout,
    readonly requested: DurabilityMode,
    private readonly warn: (message: string, err?: unknown) => void = () => undefined,
  ) {
    this.effective = requested;
  }

  /** The mode in effect (`group` falls back to `chunk` without a boot id). */
  get mode(): DurabilityMode {
    return this.effective;
  }

  private get group(): boolean {
    return this.effective === 'group';
  }

  /**
   * At the start of the writing process: recovers from how the last one stopped, records this
   * boot, and starts the syncer.
   */
  async start(bootIdPath = BOOT_ID_PATH): Promise<DurabilityStart> {
    this.bootId = await readBootId(bootIdPath);
    if (this.requested === 'group' && this.bootId === null) {
      this.effective = 'chunk';
      this.warn('durability group needs the boot id (/proc/sys/kernel/random/boot_id): using chunk');
    }
    const prev = await this.readCheckpoint();
    let result: DurabilityStart = { mode: this.effective, after: 'fresh' };
    if (prev === 'garbled' || (prev && (prev.verify === true || (prev.mode === 'group' && !prev.clean)))) {
      const machine =
        prev === 'garbled' || prev.verify === true || this.bootId === null || prev.bootId !== this.bootId;
      if (machine) {
        result = { ...result, after: 'machine crash', dropped: await recoverAfterMachineCrash(this.layout) };
      } else {
        // The page cache kept what the last process wrote, but nobody tracks it for syncing now.
        await settleUploads(this.layout);
        result = { ...result, after: 'process crash' };
      }
    } else if (prev) {
      result = { ...result, after: prev.clean ? 'clean stop' : 'process crash' };
    }
    await this.writeCheckpoint({ clean: false });
    this.started = true;
    if (this.group) {
      this.timer = setInterval(() => {
        if (this.pending()) this.flush().catch((err: unknown) => this.warn('group sync failed', err));
      }, GROUP_INTERVAL_MS);
      this.timer.unref();
    }
    return result;
  }

  /** A clean stop: a last group sync, then the checkpoint says so. */
  async close(): Promise<void> {
    if (!this.started) return;
    this.started = false;
    clearInterval(this.timer);
    try {
      await this.flush();
    } catch (err: unknown) {
      this.warn('last group sync failed', err);
    }
    // After a failed group sync, the next start re-verifies even after this clean stop.
    await this.writeCheckpoint({ clean: !this.failed, verify: this.failed });
  }

  /**
   * `bytes` were written through `fh` (at `path`, where the file stays; null: the file is still
   * to be renamed, and `moved` names it where it lands). chunk: fdatasync (fsync with `full`) now;
   * group: at the next pass.
   */
  async wrote(fh: FileHandle, path: string | null, bytes: number, full = false): Promise<void> {
    if (!this.group) {
      await (full ? fh.sync() : fh.datasync());
      return;
    }
    if (path !== null) this.later(path, bytes);
  }

  /** A file renamed into `path` (its bytes written before): durable with its folder. */
  async moved(path: string, bytes: number): Promise<void> {
    if (!this.group) {
      await fsyncDir(dirname(path));
      return;
    }
    this.later(path, bytes);
    this.dirs.add(dirname(path));
  }

  /** A small file replaced atomically (plan, regions log, stream record), `dirs` made first. */
  async replaceFile(path: string, data: string, dirs: readonly string[] = []): Promise<void> {
    if (!this.group) {
      await writeFileAtomic(path, this.layout.tmp, data, true, dirs);
      return;
    }
    await writeFileAtomic(path, this.layout.tmp, data, false, dirs);
    this.later(path, data.length);
    this.dirs.add(dirname(path));
    for (const dir of dirs) this.dirs.add(dirname(dir));
  }

  /** Group mode: runs `task` after the next pass has synced the files written before this call. */
  afterSync(key: string, task: () => Promise<void>): void {
    this.after.set(key, task);
    this.kick();
  }

  /**
   * Drops the pending afterSync task under `key` and resolves once a pass that may already run it
   * has ended (before its folder is removed: a task renaming a file into it would race the rm).
   */
  async forget(key: string): Promise<void> {
    this.after.delete(key);
    await this.running?.catch(() => undefined);
  }

  get groupMode(): boolean {
    return this.group;
  }

  private later(path: string, bytes: number): void {
    this.files.add(path);
    this.bytes += bytes;
    this.kick();
  }

  private pending(): boolean {
    return this.files.size + this.dirs.size + this.after.size > 0;
  }

  /** Past GROUP_BYTES or GROUP_PATHS, a pass starts now (nobody waits for it). */
  private kick(): void {
    if (this.bytes < GROUP_BYTES && this.files.size + this.dirs.size + this.after.size < GROUP_PATHS) return;
    this.bytes = 0;
    this.flush().catch((err: unknown) => this.warn('group sync failed', err));
  }

  /**
   * Resolves once everything written before the call is durable. Passes run one at a time; calls
   * while one runs share the next (which starts when it ends).
   */
  flush(): Promise<void> {
    if (!this.group) return Promise.resolve();
    if (this.queued) return this.queued;
    const before = this.running ?? Promise.resolve();
    const next: Promise<void> = before
      .catch(() => undefined)
      .then(() => {
        this.queued = undefined;
        this.running = next;
        return this.pass();
      })
      .finally(() => {
        if (this.running === next) this.running = undefined;
      });
    this.queued = next;
    return next;
  }

  private async pass(): Promise<void> {
    const files = [...this.files];
    const dirs = [...this.dirs];
    const tasks = [...this.after.values()];
    this.files.clear();
    this.dirs.clear();
    this.after.clear();
    this.bytes = 0;
    try {
      await inParallel(files, (p) => syncPath(p, false));
      await inParallel(dirs, (p) => syncPath(p, true));
      for (const task of tasks) await task();
    } catch (err: unknown) {
      // Linux reports a write-back error to one fsync only: what this pass covered may be lost
      // though acknowledged. The next start re-verifies every incomplete upload.
      if (!this.failed) {
        this.failed = true;
        await this.writeCheckpoint({ clean: false, verify: true }).catch(() => undefined);
      }
      throw err;
    }
  }

  private async readCheckpoint(): Promise<Checkpoint | 'garbled' | undefined> {
    let text: string;
    try {
      text = await readFile(this.layout.checkpointPath, 'utf8');
    } catch (err: unknown) {
      if (errno(err) === 'ENOENT') return undefined;
      throw err;
    }
    try {
      const c = JSON.parse(text) as Partial<Checkpoint>;
      if ((c.mode !== 'chunk' && c.mode !== 'group') || typeof c.clean !== 'boolean') return 'garbled';
      return {
        bootId: typeof c.bootId === 'string' ? c.bootId : null,
        mode: c.mode,
        clean: c.clean,
        verify: c.verify === true,
        at: String(c.at),
      };
    } catch {
      return 'garbled';
    }
  }

  private async writeCheckpoint(state: { clean: boolean; verify?: boolean }): Promise<void> {
    const checkpoint: Checkpoint = {
      bootId: this.bootId,
      mode: this.effective,
      ...state,
      at: new Date().toISOString(),
    };
    await writeFileAtomic(this.layout.checkpointPath, this.layout.tmp, `${JSON.stringify(checkpoint)}\n`);
  }
}

/** fsync (a folder) or fdatasync (a file) by path; gone since is fine. */
async function syncPath(path: string, folder: boolean): Promise<void> {
  let fh: FileHandle;
  try {
    fh = await open(path, 'r');
  } catch (err: unknown) {
    if (errno(err) === 'ENOENT' || errno(err) === 'ENOTDIR') return;
    throw err;
  }
  try {
    await (folder ? fh.sync() : fh.datasync());
  } finally {
    await fh.close();
  }
}

async function inParallel<T>(items: readonly T[], job: (item: T) => Promise<void>): Promise<void> {
  let next = 0;
  const worker = async () => {
    while (next < items.length) await job(items[next++] as T);
  };
  await Promise.all(Array.from({ length: Math.min(PASS_PARALLEL, items.length) }, worker));
}
