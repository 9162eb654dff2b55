/** Reading a stream upload as requests see it: missing, expired, or its record. */
import { TransferError } from '../protocol/errors.js';
import type { StreamRecord } from '../storage/stream-store.js';
import type { StreamCore } from './stream-context.js';

/** The upload's record; NOT_FOUND when there is none, UPLOAD_GONE once it expired. */
export async function liveRecord(sc: StreamCore, id: string, now = Date.now()): Promise<StreamRecord> {
  const record = await sc.store.read(id);
  if (!record) throw new TransferError('NOT_FOUND');
  if (record.expiresAt <= now) throw new TransferError('UPLOAD_GONE');
  return record;
}

/** Whether every byte of the upload is there (its length is known and reached). */
export function isWhole(record: StreamRecord): boolean {
  return record.length !== null && record.offset === record.length;
}

/** The extension of a file name, as links use it ('' when it has none the protocol accepts). */
export function extOf(name: string | null): string {
  const m = name ? /\.([A-Za-z0-9]{1,16})$/.exec(name) : null;
  return m ? `.${m[1]}` : '';
}
