/**
 * The local-disk backend's folder, and every path it writes (start reading here).
 * Every name below is a validated id, a key made of validated digests or an MD5, never raw input.
 * <key> is a store key (protocol/ids.ts fileKey): the file's MD5, or `<md5>-<sha16>` (the first
 * 16 hex digits of its SHA-256) for an upload whose client declared the SHA-256 and for a
 * published MD5 twin (storage/publication.ts decides where a file is published).
 *
 *   files/<key>             A published file: complete, MD5- and SHA-256-verified, immutable (its
 *                           name is its MD5, plus the SHA-256 prefix for a twin), served as
 *                           /upload/<key><ext>. Written by assembly: fsynced, renamed in from tmp/
 *                           or uploads/<key>/data, then files/ fsynced.
 *   files/<key>.json        Sidecar {name, ext, size, publishedAt, sha256}, written just before the
 *                           rename above, so a visible file always has its sidecar (files published
 *                           before SHA-256s were recorded have none in it).
 *   uploads/<key>/sessions/<session>.json
 *                           One plan per upload session (the requester's last handshake: ext, chunk
 *                           ids, size, chunkSize, name, sha256, session, owner, and the client
 *                           address counted for caps and quota). <session> is 32 hex digits derived
 *                           from the requester (core/sessions.ts); chunks are shared by all sessions.
 *   uploads/<key>/plan.json The plan from before sessions (one per upload): still read, owned by
 *                           nobody (any requester may continue, inspect or abandon it); never written.
 *   uploads/<fileId>/chunks/<md5>
 *                           A plain chunk, named by its verified MD5, so a re-handshake with
 *                           another chunk list keeps what matches. Fsynced in tmp/, renamed here,
 *                           then chunks/ fsynced: held once the rename is durable.
 *   uploads/<fileId>/data   In-place chunks (the plan declares size and chunkSize): chunk i is
 *                           written at i × chunkSize and fdatasynced. Only the regions listed in
 *                           `regions` mean anything (in-place-chunks.ts says when a chunk goes here).
 *   uploads/<fileId>/regions
 *                           "layout <size> <chunkSize>\n", then "<index> <md5>\n" per held region,
 *                           appended and fdatasynced after the region's bytes (region-log.ts).
 *   uploads/streams/<id>/state.json, uploads/streams/<id>/data
 *                           A byte-stream upload (tus, IETF): its record and its bytes, appended at
 *                           the record's offset (stream-uploads.ts says when each is durable).
 *   uploads/streams/<id>/state.durable.json
 *                           --durability group only: the record as of the last group sync (its
 *                           bytes synced first); after a crash of the machine the upload rolls back
 *                           to it.
 *   durability.json         {bootId, mode, clean, verify?}: written (durably) when the writing
 *                           process starts and when it stops cleanly; durability.ts reads it at
 *                           start to tell a clean stop, a crash of the process and one of the
 *                           machine apart (recovery.ts).
 *   tmp/<random>.chunk|.file|.tmp
 *                           Bytes in flight: chunks being received, files being assembled, small
 *                           files being replaced (plan.json, sidecars, regions). Never served.
 *   trash/<uuid>            An upload's folder or a stream's bytes once done with, renamed here
 *                           and deleted after the answer (trash.ts); emptied at start.
 *
 * "Fsynced" and "fdatasynced" above describe `--durability chunk`. Under `group` (the default),
 * durability.ts makes the same writes durable in groups instead (every 500 ms or 64 MiB, before
 * an assembly, at a clean stop): chunks, regions lines, plans and stream appends are acknowledged
 * once written and verified. Publication (files/<key>, its sidecar, files/) is fsynced before the
 * URL is answered in both modes.
 *
 * Small files (plan.json, sidecar, regions when rewritten) go temp → fsync → rename → fsync(folder)
 * (under group, plans, regions and stream records skip the fsyncs and join the next group sync).
 *
 * What a restart does: durability.ts first recovers from an unclean stop of a group-mode writer
 * (re-verifies every held chunk after a crash of the machine: recovery.ts); tmp/ is emptied (no request can own a file there); an upload folder whose
 * file is already in files/ is removed (a crash cut its clean-up); a regions log is read back, its
 * torn last line dropped, and without its data file it holds nothing; the whole-file MD5 folded
 * while chunks arrived lived in memory only, so assembly then hashes the data file from the start.
 */
import { join } from 'node:path';
import { randomName } from '../../io/fs-util.js';

/** The two files of an upload's in-place chunks, and where their atomic rewrites are staged. */
export interface RegionFiles {
  readonly dir: string;
  readonly data: string;
  readonly log: string;
  readonly tmp: string;
}

export class DiskLayout {
  readonly files: string;
  readonly uploads: string;
  readonly tmp: string;
  readonly trash: string;

  constructor(readonly root: string) {
    this.files = join(root, 'files');
    this.uploads = join(root, 'uploads');
    this.tmp = join(root, 'tmp');
    this.trash = join(root, 'trash');
  }

  filePath(fileId: string): string {
    return join(this.files, fileId);
  }

  sidecarPath(fileId: string): string {
    return join(this.files, `${fileId}.json`);
  }

  uploadDir(fileId: string): string {
    return join(this.uploads, fileId);
  }

  /** The plan from before sessions. */
  planPath(fileId: string): string {
    return join(this.uploadDir(fileId), 'plan.json');
  }

  sessionsDir(fileId: string): string {
    return join(this.uploadDir(fileId), 'sessions');
  }

  /** One session's plan (session: 32 hex digits); null: the plan from before sessions. */
  sessionPlanPath(fileId: string, session: string | null): string {
    return session === null ? this.planPath(fileId) : join(this.sessionsDir(fileId), `${session}.json`);
  }

  chunksDir(fileId: string): string {
    return join(this.uploadDir(fileId), 'chunks');
  }

  chunkPath(fileId: string, md5: string): string {
    return join(this.chunksDir(fileId), md5);
  }

  regionFiles(fileId: string): RegionFiles {
    const dir = this.uploadDir(fileId);
    return { dir, data: join(dir, 'data'), log: join(dir, 'regions'), tmp: this.tmp };
  }

  /** The upload's entries whose mtimes say when it was last written to. */
  activityPaths(fileId: string): string[] {
    const dir = this.uploadDir(fileId);
    return ['plan.json', 'sessions', 'chunks', 'regions', 'data', '.'].map((name) => join(dir, name));
  }

  /** durability.ts's checkpoint: the boot id and whether the last writer stopped cleanly. */
  get checkpointPath(): string {
    return join(this.root, 'durability.json');
  }

  get streamsDir(): string {
    return join(this.uploads, 'streams');
  }

  streamDir(id: string): string {
    return join(this.streamsDir, id);
  }

  streamStatePath(id: string): string {
    return join(this.streamDir(id), 'state.json');
  }

  /** The record as of the last group sync (durability group only). */
  streamDurablePath(id: string): string {
    return join(this.streamDir(id), 'state.durable.json');
  }

  streamDataPath(id: string): string {
    return join(this.streamDir(id), 'data');
  }

  /** A fresh name in tmp/ ('chunk' received, 'file' assembled). */
  tempPath(kind: 'chunk' | 'file'): string {
    return join(this.tmp, `${randomName()}.${kind}`);
  }
}
