/**
 * Creating a stream upload: admitted against the same caps and quotas as seed plans (per client
 * and in all), checked against the largest file and the free-space reserve, recorded durably
 * before its URL is handed out. A creation that names a published file (its MD5 and size, and
 * SHA-256 when given) is complete at once: instant upload, across protocols, under the 'open'
 * policy only (context.ts instantUpload: these protocols have no proof challenge, so under
 * 'proof' or 'off' a claim is ignored and the bytes are uploaded).
 */
import { TransferError } from '../protocol/errors.js';
import { isMd5Hex } from '../protocol/ids.js';
import type { StreamConcat, StreamRecord } from '../storage/stream-store.js';
import { checkFreeSpace } from './bounds.js';
import { sha256OfPublished } from './stream-complete.js';
import { RECORD_BYTES, type StreamCore, usageKey } from './stream-context.js';
import { newStreamId } from './stream-ids.js';
import { extOf } from './stream-status.js';

export interface StreamCreation {
  protocol: string;
  /** null: deferred (declared later, or by the append that completes the upload). */
  length: number | null;
  metadata: string | null;
  name: string | null;
  type: string | null;
  concat: StreamConcat;
  client: string;
  /** A file the client says it is uploading (MD5, and SHA-256 if it knows it): instant upload. */
  claims?: { md5?: string | undefined; sha256?: string | undefined };
}

export function checkLength(sc: StreamCore, length: number): void {
  if (length > sc.core.limits.maxFileSize) {
    throw new TransferError(
      'FILE_TOO_LARGE',
      `The file would be ${length} bytes, over ${sc.core.limits.maxFileSize}.`,
    );
  }
}

/** The published file the creation names, if the server holds it with that size (and SHA-256). */
async function claimedFile(sc: StreamCore, c: StreamCreation) {
  const md5 = c.claims?.md5?.toLowerCase();
  if (sc.core.limits.instantUpload !== 'open') return undefined;
  if (!md5 || !isMd5Hex(md5) || c.length === null || c.concat) return undefined;
  const file = await sc.core.storage.statFile(md5);
  if (!file || file.size !== c.length) return undefined;
  const sha = c.claims?.sha256?.toLowerCase();
  if (sha && sha !== (await sha256OfPublished(sc, file))) return undefined;
  return file;
}

/** A new upload's record: no bytes yet, expiring after the idle time. */
export function newRecord(sc: StreamCore, c: Omit<StreamCreation, 'claims'>, now = Date.now()): StreamRecord {
  return {
    id: newStreamId(),
    protocol: c.protocol,
    length: c.length,
    offset: 0,
    metadata: c.metadata,
    name: c.name,
    type: c.type,
    client: c.client,
    createdAt: now,
    updatedAt: now,
    expiresAt: now + sc.limits.expireAfterMs,
    concat: c.concat,
    md5State: null,
    sha256State: null,
    done: null,
  };
}

export async function createStream(sc: StreamCore, c: StreamCreation): Promise<StreamRecord> {
  if (c.length !== null) checkLength(sc, c.length);
  const now = Date.now();
  const record = newRecord(sc, c, now);
  const known = await claimedFile(sc, c);
  if (known) {
    const done: StreamRecord = {
      ...record,
      expiresAt: now + sc.limits.doneTtlMs,
      offset: known.size,
      done: { fileId: known.fileId, ext: extOf(c.name), at: now },
    };
    await sc.store.create(done);
    return done;
  }
  const { usage } = sc.core;
  await usage.ready();
  usage.admit(usageKey(record.id), c.client, RECORD_BYTES);
  try {
    await checkFreeSpace(sc.core, (c.length ?? 0) + RECORD_BYTES);
    await sc.store.create(record);
  } catch (err: unknown) {
    usage.remove(usageKey(record.id));
    throw err;
  }
  return record;
}
