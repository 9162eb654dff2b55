/**
 * A whole stream upload becomes a published file under its MD5 (the same files/<md5> and link the
 * seed protocol publishes, so a later seed handshake for that MD5 answers at once), with its
 * SHA-256 recorded like every published file's (storage/publication.ts): the one folded as the
 * bytes arrived (io/hash-folds.ts), else, where the fold did not cover every byte, read back once
 * from the store (counted in StreamCore.readBack, /metrics). If that MD5 is published already,
 * the bytes are dropped (deduplication), but only when the SHA-256 agrees too: two different
 * files with one MD5 (a crafted collision) never share a name. Unlike a seed upload, whose twin
 * is published under `<md5>-<sha16>`, a stream upload's twin is refused (409 MD5_COLLISION): its
 * link is the MD5's.
 */
import { createHash } from 'node:crypto';
import { LRUCache } from 'lru-cache';
import { TransferError } from '../protocol/errors.js';
import type { PublishedFile } from '../storage/storage.js';
import type { StreamRecord } from '../storage/stream-store.js';
import { type StreamCore, usageKey } from './stream-context.js';
import { md5OfState, sha256OfState } from './stream-fold.js';
import { extOf } from './stream-status.js';

/** SHA-256 of published files, computed once per process (a file never changes under its MD5). */
const publishedSha = new LRUCache<string, string>({ max: 4096 });

async function hashAll(bytes: AsyncIterable<Buffer>, counted?: (n: number) => void): Promise<string> {
  const hash = createHash('sha256');
  for await (const buf of bytes) {
    hash.update(buf);
    counted?.(buf.length);
  }
  return hash.digest('hex');
}

/**
 * The SHA-256 of a published file: the one it recorded, else (a file published before SHA-256s
 * were recorded) read once, then remembered.
 */
export async function sha256OfPublished(sc: StreamCore, file: PublishedFile): Promise<string> {
  if (file.sha256) return file.sha256;
  const known = publishedSha.get(file.fileId);
  if (known) return known;
  const opened = await sc.core.storage.openFile(file.fileId);
  if (!opened) throw new TransferError('NOT_FOUND');
  try {
    const sha =
      opened.file.size === 0
        ? createHash('sha256').digest('hex')
        : await hashAll(opened.source.stream(0, opened.file.size - 1) as AsyncIterable<Buffer>);
    publishedSha.set(file.fileId, sha);
    return sha;
  } finally {
    await opened.source.close();
  }
}

/** The SHA-256 of uploads' bytes, read back from the store: the fold did not cover them all. */
async function sha256Of(sc: StreamCore, records: readonly StreamRecord[]): Promise<string | undefined> {
  sc.readBack.uploads++;
  try {
    return await hashAll(sc.store.bytes(records), (n) => {
      sc.readBack.bytes += n;
    });
  } catch {
    // The bytes are gone: a crash came after they were published and before the record said so.
    return undefined;
  }
}

/**
 * Publishes the records' bytes (in order) under `fileId` with their SHA-256 (`file.sha256` when
 * the caller hashed them already, else folded or read back), or drops them when that file is there
 * with the same SHA-256; MD5_COLLISION when it is there with other bytes.
 */
export async function publishBytes(
  sc: StreamCore,
  records: readonly StreamRecord[],
  file: { fileId: string; size: number; name: string | null; ext: string; sha256?: string | undefined },
): Promise<PublishedFile> {
  const existing = await sc.core.storage.statFile(file.fileId);
  if (!existing) {
    // Every published file records its SHA-256 (links under 'proof'/'off' are made of it, and
    // collisions are told by it): folded on the way in like the MD5, else read back once here.
    const sha256 = file.sha256 ?? (await sha256Of(sc, records));
    if (sha256 === undefined) throw new TransferError('UPLOAD_NOT_FOUND', 'The upload lost its bytes.');
    return sc.store.publish(records, { ...file, sha256 });
  }
  let ours: string | undefined = 'size differs';
  if (existing.size === file.size) ours = file.sha256 ?? (await sha256Of(sc, records));
  if (ours !== undefined && ours !== (await sha256OfPublished(sc, existing))) {
    throw new TransferError('MD5_COLLISION');
  }
  return existing;
}

/**
 * The upload is whole: publish (or deduplicate) it and mark it done. Call under its lock.
 * `folded`: the digests the last append's fold finished with (else they come from the record's
 * states; a SHA-256 the fold did not cover is read back).
 */
export async function completeStream(
  sc: StreamCore,
  record: StreamRecord,
  folded?: { md5: string; sha256: string | undefined },
): Promise<StreamRecord> {
  if (record.done) return record;
  const fileId = folded?.md5 ?? (await md5OfState(record.md5State));
  const ext = extOf(record.name);
  let sha256: string | null = null;
  if (record.concat?.kind !== 'partial') {
    try {
      ({ sha256 } = await publishBytes(sc, [record], {
        fileId,
        size: record.offset,
        name: record.name,
        ext,
        sha256: folded?.sha256 ?? sha256OfState(record),
      }));
    } catch (err: unknown) {
      if (err instanceof TransferError && err.code === 'MD5_COLLISION') await dropStream(sc, record.id);
      throw err;
    }
  }
  const now = Date.now();
  const done: StreamRecord = {
    ...record,
    // The SHA-256 makes the link under instant upload 'proof' and 'off' (upload-link.ts).
    done: { fileId, ext, at: now, ...(sha256 ? { sha256 } : {}) },
    updatedAt: now,
    expiresAt: now + sc.limits.doneTtlMs,
  };
  await sc.store.write(done);
  // A partial upload keeps its bytes (and counts them) for the final upload that names it.
  if (record.concat?.kind === 'partial') return done;
  await sc.store.dropBytes(record.id);
  sc.core.usage.remove(usageKey(record.id));
  return done;
}

/** Deletes an upload and everything it counted. */
export async function dropStream(sc: StreamCore, id: string): Promise<void> {
  await sc.store.remove(id);
  sc.core.usage.remove(usageKey(id));
}
