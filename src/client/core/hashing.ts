/** One pass over the file: the whole-file MD5 and every chunk's MD5 from the same bytes. */
import { abortError } from './backoff.js';
import type { ByteSource, FileHashes, Md5Factory } from './ports.js';

export function chunkCount(size: number, chunkSize: number): number {
  return Math.max(1, Math.ceil(size / chunkSize));
}

export async function hashSource(
  source: ByteSource,
  chunkSize: number,
  createMd5: Md5Factory,
  onBytes: (done: number) => void,
  signal?: AbortSignal,
): Promise<FileHashes> {
  const whole = await createMd5();
  let part = await createMd5();
  let inPart = 0;
  let done = 0;
  const chunkIds: string[] = [];
  for await (const buf of source.stream()) {
    if (signal?.aborted) throw abortError();
    whole.update(buf);
    let off = 0;
    while (off < buf.length) {
      const take = Math.min(chunkSize - inPart, buf.length - off);
      part.update(off === 0 && take === buf.length ? buf : buf.subarray(off, off + take));
      inPart += take;
      off += take;
      if (inPart === chunkSize) {
        chunkIds.push(part.digest() + chunkIds.length);
        part = await createMd5();
        inPart = 0;
      }
    }
    done += buf.length;
    onBytes(done);
  }
  // The last partial chunk; an empty file is one empty chunk.
  if (inPart > 0 || chunkIds.length === 0) chunkIds.push(part.digest() + chunkIds.length);
  return { fileId: whole.digest(), chunkSize, chunkIds };
}
