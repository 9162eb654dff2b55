/**
 * Appending bytes to a stream upload at its offset (tus PATCH, IETF append): under the upload's
 * lock, checked (offset, length, quota, free space) before a byte is read, streamed to the store
 * while the MD5 and SHA-256 fold, verified against a checksum when one was sent (then nothing
 * counts unless it matches), and made to count by one durable record write. A body cut short
 * (the client went) still counts for what arrived, as tus asks, unless a checksum was to be
 * checked.
 */
import { createHash } from 'node:crypto';
import type { FoldResult } from '../io/hash-folds.js';
import { TransferError } from '../protocol/errors.js';
import type { StreamAppend, StreamRecord } from '../storage/stream-store.js';
import { checkFreeSpace } from './bounds.js';
import { completeStream } from './stream-complete.js';
import { type StreamCore, usageKey } from './stream-context.js';
import { checkLength } from './stream-create.js';
import { sha256StateOf } from './stream-fold.js';
import type { LockOwner } from './stream-locks.js';
import { isWhole, liveRecord } from './stream-status.js';

export type ChecksumAlgorithm = 'md5' | 'sha1' | 'sha256';

export interface AppendRequest {
  /** The offset the client says it appends at. */
  offset: number;
  /** The upload's length, when the client declares it now (a deferred length). */
  length?: number | undefined;
  /** The body's length, when the request says it (checked before reading). */
  contentLength?: number | undefined;
  /** The digest the body must have (tus checksum extension). */
  checksum?: { algorithm: ChecksumAlgorithm; digest: Buffer } | undefined;
  /** The body ends the upload (IETF Upload-Complete: ?1): its length is offset + body. */
  completes?: boolean;
  owner: LockOwner;
}

/** Checks the request against the record before any byte is read; resolves the length in force. */
function admitAppend(sc: StreamCore, record: StreamRecord, req: AppendRequest): number | null {
  if (record.concat?.kind === 'final') throw new TransferError('FINAL_UPLOAD_READ_ONLY');
  if (req.offset !== record.offset) {
    throw new TransferError(
      'OFFSET_MISMATCH',
      `Upload-Offset ${req.offset} does not match the upload's offset ${record.offset}.`,
    );
  }
  let length = record.length;
  if (req.length !== undefined) {
    if (length === null) {
      checkLength(sc, req.length);
      if (req.length < record.offset) throw new TransferError('LENGTH_MISMATCH');
      length = req.length;
    } else if (length !== req.length) {
      throw new TransferError('LENGTH_MISMATCH', `The upload's length is ${length}, not ${req.length}.`);
    }
  }
  const whole = record.done !== null || (length !== null && record.offset === length);
  if (whole && req.contentLength !== 0) throw new TransferError('UPLOAD_COMPLETED');
  const room = (length ?? sc.core.limits.maxFileSize) - record.offset;
  if (req.contentLength !== undefined && req.contentLength > room) {
    throw new TransferError(length === null ? 'FILE_TOO_LARGE' : 'UPLOAD_LENGTH_EXCEEDED');
  }
  if (req.completes && length !== null && req.contentLength !== undefined) {
    if (record.offset + req.contentLength !== length) throw new TransferError('LENGTH_MISMATCH');
  }
  return length;
}

/** Appends the body; resolves with the record after it (completed and published if whole). */
export async function appendStream(
  sc: StreamCore,
  id: string,
  body: AsyncIterable<Buffer>,
  req: AppendRequest,
): Promise<StreamRecord> {
  const release = await sc.locks.acquire(id, req.owner);
  try {
    const record = await liveRecord(sc, id);
    let length = admitAppend(sc, record, req);
    if (record.done) return record;
    // An empty append to a whole upload (its deferred length declared last, or a crash came
    // between its last append and its publication) completes it.
    if (length !== null && record.offset === length) return await completeStream(sc, { ...record, length });
    const room = (length ?? sc.core.limits.maxFileSize) - record.offset;
    const expected = Math.min(room, req.contentLength ?? room);
    sc.core.usage.checkQuota(record.client, expected);
    await checkFreeSpace(sc.core, expected);

    const fold = sc.folds.begin(record.md5State, sha256StateOf(record));
    let folded: FoldResult;
    let appended: StreamAppend;
    try {
      const check = req.checksum && createHash(req.checksum.algorithm);
      appended = await sc.store.append(record, body, {
        maxBytes: room,
        tooMany: () => new TransferError(length === null ? 'FILE_TOO_LARGE' : 'UPLOAD_LENGTH_EXCEEDED'),
        onBytes: (buf) => {
          check?.update(buf);
          return fold.update(buf);
        },
      });
      if (req.checksum && check) {
        if (appended.cut || !check.digest().equals(req.checksum.digest)) {
          await appended.discard();
          throw new TransferError('CHECKSUM_MISMATCH');
        }
      }
      folded = await fold.finish().catch(async (err: unknown) => {
        await appended.discard();
        throw err;
      });
    } finally {
      fold.drop();
    }
    const offset = record.offset + appended.bytes;
    if (req.completes && !appended.cut) {
      if (length === null) length = offset;
      else if (length !== offset) {
        await appended.discard();
        throw new TransferError(
          'LENGTH_MISMATCH',
          `The upload's length is ${length}; this append ends at ${offset}.`,
        );
      }
    }
    const { md5State, md5, sha256State, sha256 } = folded;
    const now = Date.now();
    const next: StreamRecord = {
      ...record,
      offset,
      length,
      md5State: appended.bytes > 0 ? md5State : record.md5State,
      // Undefined (not written) when this fold had none: completion then reads the bytes back.
      sha256State: appended.bytes > 0 ? sha256State : sha256StateOf(record),
      updatedAt: now,
      expiresAt: now + sc.limits.expireAfterMs,
    };
    await appended.commit(next);
    sc.core.usage.grow(usageKey(id), appended.bytes);
    return isWhole(next) ? await completeStream(sc, next, { md5, sha256 }) : next;
  } finally {
    release();
  }
}
