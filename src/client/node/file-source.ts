/** A file on disk as an upload source. */
import { createReadStream } from 'node:fs';
import { open, realpath, stat } from 'node:fs/promises';
import { basename } from 'node:path';
import { TransferError } from '../../protocol/errors.js';
import type { ByteSource } from '../core/ports.js';

export async function fileSource(path: string): Promise<ByteSource> {
  let st: Awaited<ReturnType<typeof stat>>;
  let real: string;
  try {
    st = await stat(path);
    real = await realpath(path);
  } catch (err: unknown) {
    throw new TransferError('LOCAL_IO', `Cannot read ${path}: ${(err as Error).message}`, { cause: err });
  }
  if (!st.isFile()) throw new TransferError('LOCAL_IO', `${path} is not a file`);
  return {
    name: basename(path),
    size: st.size,
    // Unchanged file ⇔ same path, size and mtime: then its hashes can be reused.
    cacheKey: `${real}|${st.size}|${st.mtimeMs}`,
    async *stream() {
      for await (const buf of createReadStream(path, { highWaterMark: 1024 * 1024 })) yield buf as Buffer;
    },
    async readInto(target: Uint8Array, position: number) {
      const fh = await open(path, 'r');
      try {
        return (await fh.read(target, 0, target.length, position)).bytesRead;
      } finally {
        await fh.close();
      }
    },
    async slice(start: number, end: number) {
      const fh = await open(path, 'r');
      try {
        const buf = Buffer.allocUnsafe(end - start);
        let done = 0;
        while (done < buf.length) {
          const { bytesRead } = await fh.read(buf, done, buf.length - done, start + done);
          if (bytesRead === 0)
            throw new TransferError('LOCAL_IO', `${path} changed while uploading (it is shorter)`);
          done += bytesRead;
        }
        return buf;
      } finally {
        await fh.close();
      }
    },
  };
}
