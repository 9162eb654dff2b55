/** A File (or any Blob) as an upload source. */
import { TransferError } from '../../protocol/errors.js';
import type { ByteSource } from '../core/ports.js';

const READ_SIZE = 8 * 1024 * 1024;

/** The Blob stays reachable so the hashing workers can read it themselves. */
export interface BlobByteSource extends ByteSource {
  blob: Blob;
}

export function blobSource(blob: Blob, name?: string): BlobByteSource {
  const file = blob as Partial<File>;
  const fileName = name ?? file.name ?? 'blob.bin';
  return {
    blob,
    name: fileName,
    type: blob.type || undefined,
    size: blob.size,
    // An unchanged File ⇔ same name, size and lastModified (all a page can know after a reload).
    cacheKey: file.lastModified === undefined ? undefined : `${fileName}|${blob.size}|${file.lastModified}`,
    async *stream() {
      for (let at = 0; at < blob.size; at += READ_SIZE) {
        yield await readSlice(blob, at, Math.min(blob.size, at + READ_SIZE));
      }
    },
    slice: (start, end) => readSlice(blob, start, end),
    sliceBody: (start, end) => blob.slice(start, end),
  };
}

export async function readSlice(blob: Blob, start: number, end: number): Promise<Uint8Array> {
  try {
    const bytes = new Uint8Array(await blob.slice(start, end).arrayBuffer());
    if (bytes.length !== end - start) throw new Error(`read ${bytes.length} bytes, expected ${end - start}`);
    return bytes;
  } catch (err: unknown) {
    // Chrome: NotReadableError when the file changed on disk after it was picked.
    throw new TransferError('LOCAL_IO', `Cannot read the file (was it changed or moved?): ${String(err)}`, {
      cause: err,
    });
  }
}
