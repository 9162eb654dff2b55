/**
 * Byte-stream uploads on the local disk (the Storage.streams part; layout.ts lists the paths):
 *
 *   uploads/streams/<id>/state.json   The record (stream-store.ts): offset, length, metadata, the
 *                                     saved MD5 and SHA-256 states. Replaced atomically (temp → fsync → rename
 *                                     → fsync folder) after the bytes it counts are fdatasynced.
 *   uploads/streams/<id>/data         The bytes, appended at the record's offset. Bytes beyond it
 *                                     (an append cut by a crash, a refused checksum) mean nothing
 *                                     and are cut before the next append writes.
 *
 * That is `--durability chunk`. Under `group` (durability.ts), an append is acknowledged once
 * written and state.json is replaced without fsyncs; the group syncer then syncs the bytes and
 * writes the record it counted as uploads/streams/<id>/state.durable.json (durably), the offset
 * a crash of the machine rolls back to (recovery.ts). The durable copy exists from creation on
 * (the first record, or for an upload begun under `chunk`, its last durable one), and a
 * completed upload's record is durable before the completion is answered.
 *
 * A whole upload's data file is renamed into files/<md5> (no copy); a tus final upload's
 * partials are copied once into a temp file that is then renamed in. One process writes the
 * folder (with --workers the others forward to it), so its lock is the only one needed and a
 * record write needs no compare-and-swap. No descriptor stays open between requests.
 */
import { constants, createReadStream } from 'node:fs';
import { type FileHandle, mkdir, open, readdir, readFile, stat, truncate } from 'node:fs/promises';
import { errno, GatherWriter, mapFsError, writeFileAtomic } from '../../io/fs-util.js';
import type { PublishedFile } from '../storage.js';
import type {
  AppendOptions,
  StreamAppend,
  StreamPublish,
  StreamRecord,
  StreamStore,
  StreamSummary,
} from '../stream-store.js';
import { isStreamId } from '../stream-store.js';
import type { Durability } from './durability.js';
import type { DiskLayout } from './layout.js';
import type { PublishedFiles } from './published-files.js';
import type { TempFiles } from './temp-files.js';
import type { Trash } from './trash.js';

/** Bytes written between two fdatasyncs started while an append's body arrives (RollingSync). */
const SYNC_EVERY = 8 * 1024 * 1024;

export class LocalStreams implements StreamStore {
  private readonly root: string;

  constructor(
    private readonly layout: DiskLayout,
    private readonly temp: TempFiles,
    private readonly trash: Trash,
    private readonly published: PublishedFiles,
    private readonly durability: Durability,
  ) {
    this.root = layout.streamsDir;
  }

  private dir(id: string): string {
    return this.layout.streamDir(id);
  }

  private statePath(id: string): string {
    return this.layout.streamStatePath(id);
  }

  private dataPath(id: string): string {
    return this.layout.streamDataPath(id);
  }

  async create(record: StreamRecord): Promise<void> {
    try {
      await mkdir(this.dir(record.id), { recursive: true });
    } catch (err: unknown) {
      throw mapFsError(err);
    }
    if (this.durability.groupMode) {
      const { version: _version, ...stored } = record;
      await writeFileAtomic(
        this.layout.streamDurablePath(record.id),
        this.layout.tmp,
        JSON.stringify(stored),
      );
    }
    await this.write(record);
  }

  async read(id: string): Promise<StreamRecord | undefined> {
    try {
      return JSON.parse(await readFile(this.statePath(id), 'utf8')) as StreamRecord;
    } catch (err: unknown) {
      if (errno(err) === 'ENOENT') return undefined;
      throw mapFsError(err);
    }
  }

  async write(record: StreamRecord): Promise<void> {
    const { version: _version, ...stored } = record;
    const text = JSON.stringify(stored);
    if (!this.durability.groupMode) {
      await writeFileAtomic(this.statePath(record.id), this.layout.tmp, text);
      return;
    }
    const durablePath = this.layout.streamDurablePath(record.id);
    // Begun under chunk mode: its last record (durable there) is the point to roll back to.
    if (!(await exists(durablePath))) {
      const before = await readFile(this.statePath(record.id), 'utf8').catch(() => undefined);
      if (before !== undefined) await writeFileAtomic(durablePath, this.layout.tmp, before);
    }
    await this.durability.replaceFile(this.statePath(record.id), text);
    // After the bytes it counts (appended before this call) are synced by the same pass.
    this.durability.afterSync(syncKey(record.id), async () => {
      try {
        await writeFileAtomic(durablePath, this.layout.tmp, text);
      } catch (err: unknown) {
        if (errno(err) !== 'ENOENT') throw err; // the upload went meanwhile
      }
    });
    // A completed upload's answer promises its file (published, fsynced) and its record.
    if (record.done) await this.durability.flush();
  }

  async append(
    record: StreamRecord,
    body: AsyncIterable<Buffer>,
    options: AppendOptions,
  ): Promise<StreamAppend> {
    const path = this.dataPath(record.id);
    const start = record.offset;
    let fh: Awaited<ReturnType<typeof open>>;
    try {
      fh = await open(path, constants.O_RDWR | constants.O_CREAT, 0o644);
    } catch (err: unknown) {
      throw mapFsError(err);
    }
    let bytes = 0;
    let cut = false;
    const out = new GatherWriter(fh, start);
    try {
      // What a crash or a refused append left beyond the offset goes first.
      if ((await fh.stat()).size > start) await fh.truncate(start);
      // Group mode: the syncer syncs the bytes, whenever GROUP_BYTES were written meanwhile too.
      const syncs = new RollingSync(fh, this.durability.groupMode);
      try {
        for await (const buf of body) {
          if (bytes + buf.length > options.maxBytes) throw options.tooMany();
          const behind = options.onBytes(buf);
          bytes += buf.length;
          await out.push(buf);
          syncs.written(bytes);
          if (behind) await behind;
        }
      } catch (err: unknown) {
        // The client went: what arrived still counts. Anything else: nothing does.
        if (!isCut(err)) {
          await syncs.settled().catch(() => undefined);
          throw err;
        }
        cut = true;
      }
      await out.flush();
      await syncs.settled();
      await this.durability.wrote(fh, path, bytes);
    } catch (err: unknown) {
      await out.stop();
      await fh.truncate(start).catch(() => undefined);
      throw mapFsError(err);
    } finally {
      await fh.close().catch(() => undefined);
    }
    return {
      bytes,
      cut,
      commit: (next) => this.write(next),
      discard: () => truncate(path, start).catch(() => undefined),
    };
  }

  async *bytes(records: readonly StreamRecord[]): AsyncIterable<Buffer> {
    for (const r of records) {
      if (r.offset === 0) continue;
      const stream = createReadStream(this.dataPath(r.id), {
        start: 0,
        end: r.offset - 1,
        highWaterMark: 1024 * 1024,
      });
      for await (const buf of stream) yield buf as Buffer;
    }
  }

  async publish(records: readonly StreamRecord[], file: StreamPublish): Promise<PublishedFile> {
    const [only] = records;
    // Group mode: the bytes (and the records counting them) are durable before they are published.
    await this.durability.flush();
    const options = { md5s: [], expectedSize: file.size, name: file.name, ext: file.ext };
    try {
      if (records.length === 1 && only) {
        const path = this.dataPath(only.id);
        // An empty upload never wrote a data file.
        const fh = await open(path, constants.O_RDWR | constants.O_CREAT, 0o644);
        try {
          await fh.truncate(file.size);
          await fh.datasync();
        } finally {
          await fh.close();
        }
        await this.published.publish(path, file.fileId, options, file.size, file.sha256);
      } else {
        await this.publishCopy(records, file, options);
      }
    } catch (err: unknown) {
      throw mapFsError(err);
    }
    const published = await this.published.stat(file.fileId);
    if (!published) throw new Error(`published file ${file.fileId} vanished`);
    return published;
  }

  /** The uploads' bytes copied once, in order, into a temp file that is then published. */
  private async publishCopy(
    records: readonly StreamRecord[],
    file: StreamPublish,
    options: { md5s: string[]; expectedSize: number; name: string | null; ext: string },
  ): Promise<void> {
    const tmp = this.temp.claim('file');
    try {
      const fh = await this.temp.open(tmp);
      const out = new GatherWriter(fh, 0);
      try {
        for await (const buf of this.bytes(records)) await out.push(buf);
        await out.flush();
        await fh.sync();
      } finally {
        await out.stop();
        await fh.close().catch(() => undefined);
      }
      await this.published.publish(tmp, file.fileId, options, file.size, file.sha256);
    } finally {
      await this.temp.release(tmp);
    }
  }

  async dropBytes(id: string): Promise<void> {
    await this.trash.discard(this.dataPath(id));
  }

  async remove(id: string): Promise<void> {
    if (this.durability.groupMode) await this.durability.forget(syncKey(id));
    await this.trash.discard(this.dir(id));
  }

  async *list(): AsyncIterable<StreamSummary> {
    let names: string[];
    try {
      names = await readdir(this.root);
    } catch (err: unknown) {
      if (errno(err) === 'ENOENT') return;
      throw mapFsError(err);
    }
    for (const id of names) {
      if (!isStreamId(id)) continue;
      const times = await Promise.all(
        [this.statePath(id), this.dataPath(id), this.dir(id)].map((p) =>
          stat(p).then(
            (s) => s.mtimeMs,
            () => 0,
          ),
        ),
      );
      yield { id, lastActivity: Math.max(...times) };
    }
  }
}

/**
 * The fdatasyncs of one append, started while its bytes still arrive: one whenever SYNC_EVERY more
 * bytes were written since the last began (never two at once), so the disk writes the append
 * back while the body is received, and the fdatasync that makes the append durable (the last,
 * before its record is written) has only the tail left to write. A PATCH of 64 MiB waited
 * ~120 ms for its one fdatasync at the end; the file is not durable any earlier than before.
 */
class RollingSync {
  private running: Promise<void> | undefined;
  private failed: unknown;
  private startedAt = 0;

  /** `off`: the group syncer syncs instead (durability group). */
  constructor(
    private readonly fh: FileHandle,
    private readonly off = false,
  ) {}

  /** `bytes` of the append are written (or handed to the writer). */
  written(bytes: number): void {
    if (this.off || this.running || bytes - this.startedAt < SYNC_EVERY) return;
    this.startedAt = bytes;
    this.running = this.fh.datasync().then(
      () => {
        this.running = undefined;
      },
      (err: unknown) => {
        // Reported by the next settled(): Linux tells a write-back error to one fdatasync only.
        this.failed ??= err;
        this.running = undefined;
      },
    );
  }

  /** After the one running (if any); rejects if any failed. */
  async settled(): Promise<void> {
    await this.running;
    if (this.failed !== undefined) throw this.failed;
  }
}

/** A request body that ended early: the client closed or reset its connection. */
function isCut(err: unknown): boolean {
  const code = errno(err);
  return (
    code === 'ECONNRESET' ||
    code === 'ERR_STREAM_PREMATURE_CLOSE' ||
    code === 'ABORT_ERR' ||
    (err instanceof Error && err.message === 'aborted')
  );
}

async function exists(path: string): Promise<boolean> {
  return stat(path).then(
    () => true,
    () => false,
  );
}

/** The stream's durable-record task in the group syncer. */
function syncKey(id: string): string {
  return `stream ${id}`;
}
