/**
 * tus concatenation: a final upload made of complete partial uploads, in order. The partials'
 * bytes are read once to fold the MD5 and the SHA-256 of the whole (hashes cannot be joined), then
 * published as one file by the store (one copy on a disk, part copies inside a bucket), and the
 * partials go.
 * The final upload is complete from its creation on; it holds no bytes of its own.
 */
import { createHash } from 'node:crypto';
import { TransferError } from '../protocol/errors.js';
import type { StreamRecord } from '../storage/stream-store.js';
import { dropStream, publishBytes } from './stream-complete.js';
import type { StreamCore } from './stream-context.js';
import { checkLength, newRecord, type StreamCreation } from './stream-create.js';
import { extOf, isWhole } from './stream-status.js';

async function partialsOf(sc: StreamCore, ids: readonly string[]): Promise<StreamRecord[]> {
  const now = Date.now();
  const records: StreamRecord[] = [];
  for (const id of ids) {
    const r = await sc.store.read(id);
    if (!r || r.expiresAt <= now || r.concat?.kind !== 'partial' || !isWhole(r)) {
      throw new TransferError(
        'PARTIAL_UPLOAD_INCOMPLETE',
        `The partial upload ${id} is not complete or not partial.`,
      );
    }
    records.push(r);
  }
  return records;
}

export async function createFinal(
  sc: StreamCore,
  parts: readonly string[],
  c: Omit<StreamCreation, 'length' | 'concat' | 'claims'>,
): Promise<StreamRecord> {
  if (parts.length === 0)
    throw new TransferError('INVALID_HEADER', 'Upload-Concat: final names no partial upload.');
  const records = await partialsOf(sc, parts);
  const size = records.reduce((sum, r) => sum + r.offset, 0);
  checkLength(sc, size);
  const md5 = createHash('md5');
  const sha = createHash('sha256');
  sc.readBack.uploads++;
  for await (const buf of sc.store.bytes(records)) {
    md5.update(buf);
    sha.update(buf);
    sc.readBack.bytes += buf.length;
  }
  const fileId = md5.digest('hex');
  const ext = extOf(c.name);
  const sha256 = sha.digest('hex');
  await publishBytes(sc, records, { fileId, size, name: c.name, ext, sha256 });
  const now = Date.now();
  const final: StreamRecord = {
    ...newRecord(sc, { ...c, length: size, concat: { kind: 'final', parts: [...parts] } }, now),
    offset: size,
    expiresAt: now + sc.limits.doneTtlMs,
    done: { fileId, ext, at: now, sha256 },
  };
  await sc.store.create(final);
  // The partials are consumed (tus lets a server delete them after concatenation).
  for (const r of records) if (!sc.locks.isLocked(r.id)) await dropStream(sc, r.id);
  return final;
}
