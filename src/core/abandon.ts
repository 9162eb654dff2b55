/** Abandon (DELETE /api/upload/<fileId>, a PROTOCOL.md extension): the client gives an upload up. */
import { TransferError } from '../protocol/errors.js';
import { parseFileId } from '../protocol/ids.js';
import type { UploadCore } from './context.js';

export async function abandonUpload(core: UploadCore, rawFileId: unknown): Promise<void> {
  const fileId = parseFileId(rawFileId);
  // An assembly already running reads the chunks: let it end (it publishes or drops the upload).
  await core.assemblies.settled(fileId);
  await core.locks.run(fileId, async () => {
    if (!(await core.storage.readPlan(fileId))) throw new TransferError('UPLOAD_NOT_FOUND');
    await core.storage.removeUpload(fileId);
  });
}
