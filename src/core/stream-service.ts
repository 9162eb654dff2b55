/**
 * Byte-stream uploads (tus 1.0 and the IETF resumable-upload drafts) on top of the Storage's
 * stream store, with no HTTP in it: the one facade the tus and IETF adapters call. It shares the
 * seed core's limits, caps and quotas (UploadService.shared), so an upload counts the same
 * whichever protocol made it, and publishes into the same files/<md5>.
 */

import { HashFolds } from '../io/hash-folds.js';
import type { StreamRecord } from '../storage/stream-store.js';
import type { UploadCore } from './context.js';
import { type AppendRequest, appendStream } from './stream-append.js';
import { completeStream, dropStream } from './stream-complete.js';
import { createFinal } from './stream-concat.js';
import { DEFAULT_STREAM_LIMITS, type StreamCore, type StreamLimits } from './stream-context.js';
import { createStream, type StreamCreation } from './stream-create.js';
import { parseStreamId } from './stream-ids.js';
import { type LockOwner, StreamLocks } from './stream-locks.js';
import { isWhole, liveRecord } from './stream-status.js';
import { countStreams, sweepStreams } from './stream-sweep.js';

export class StreamService {
  private readonly sc: StreamCore;
  private counted: Promise<void> | undefined;

  constructor(core: UploadCore, limits: Partial<StreamLimits> = {}) {
    const resolved = { ...DEFAULT_STREAM_LIMITS };
    for (const [k, v] of Object.entries(limits)) if (v !== undefined) Object.assign(resolved, { [k]: v });
    this.sc = {
      core,
      store: core.storage.streams,
      limits: resolved,
      locks: new StreamLocks(resolved.lockIdleMs),
      folds: new HashFolds(),
      readBack: { uploads: 0, bytes: 0 },
    };
  }

  get limits(): StreamLimits {
    return this.sc.limits;
  }

  /** Uploads and bytes read back to hash them since the start (/metrics). */
  readBack(): { uploads: number; bytes: number } {
    return { ...this.sc.readBack };
  }

  /** Largest upload length accepted (Tus-Max-Size, Upload-Limit max-size). */
  get maxSize(): number {
    return this.sc.core.limits.maxFileSize;
  }

  private ready(): Promise<void> {
    this.counted ??= countStreams(this.sc).catch((err: unknown) => {
      this.counted = undefined;
      throw err;
    });
    return this.counted;
  }

  async create(c: StreamCreation): Promise<StreamRecord> {
    await this.ready();
    return createStream(this.sc, c);
  }

  async createFinal(parts: readonly string[], c: Omit<StreamCreation, 'length' | 'concat' | 'claims'>) {
    await this.ready();
    return createFinal(this.sc, parts.map(parseStreamId), c);
  }

  /**
   * The upload as it is now (NOT_FOUND, UPLOAD_GONE). A lock held by a request whose client went
   * is waited for first: the offset then counts what that request wrote. A whole upload that a
   * crash left unpublished is published now.
   */
  async status(rawId: string): Promise<StreamRecord> {
    const id = parseStreamId(rawId);
    await this.sc.locks.settled(id);
    const record = await liveRecord(this.sc, id);
    if (!record.done && isWhole(record) && !this.sc.locks.isLocked(id)) {
      return this.withLock(id, async () => completeStream(this.sc, await liveRecord(this.sc, id)));
    }
    return record;
  }

  async append(rawId: string, body: AsyncIterable<Buffer>, req: AppendRequest): Promise<StreamRecord> {
    return appendStream(this.sc, parseStreamId(rawId), body, req);
  }

  /** Deletes an upload (tus termination, IETF cancellation): NOT_FOUND if there is none. */
  async terminate(rawId: string, owner: LockOwner): Promise<void> {
    const id = parseStreamId(rawId);
    const release = await this.sc.locks.acquire(id, owner);
    try {
      await liveRecord(this.sc, id);
      await dropStream(this.sc, id);
    } finally {
      release();
    }
  }

  sweep(now = Date.now()): Promise<number> {
    return sweepStreams(this.sc, now);
  }

  private async withLock<T>(id: string, fn: () => Promise<T>): Promise<T> {
    const release = await this.sc.locks.acquire(id, INTERNAL_OWNER);
    try {
      return await fn();
    } finally {
      release();
    }
  }
}

/** The service itself holding a lock (publication after a crash): never stale, never cancelled. */
const INTERNAL_OWNER: LockOwner = { alive: () => true, idleMs: () => 0, cancel: () => undefined };
