/**
 * What the range server reads from: one open handle on one version of the bytes. Holding the
 * handle for the whole response is what keeps a download consistent when the file is replaced
 * by a rename while it runs.
 */
import { createReadStream } from 'node:fs';
import type { FileHandle } from 'node:fs/promises';
import type { Readable } from 'node:stream';

export interface ByteSource {
  readonly size: number;
  readonly mtime: Date;
  /** A new stream over bytes start..end inclusive. */
  stream(start: number, end: number): Readable;
  /** Reads a small range into memory (used for small ranges, where a stream costs more). */
  read(start: number, end: number): Promise<Buffer>;
  close(): Promise<void>;
}

export class FileHandleSource implements ByteSource {
  private closed = false;

  private constructor(
    private readonly handle: FileHandle,
    readonly size: number,
    readonly mtime: Date,
  ) {}

  /** Opens and fstat()s the path; the stat describes exactly the bytes the handle reads. */
  static async open(handle: FileHandle): Promise<FileHandleSource> {
    const st = await handle.stat();
    return new FileHandleSource(handle, st.size, st.mtime);
  }

  stream(start: number, end: number): Readable {
    return createReadStream('', {
      fd: this.handle.fd,
      start,
      end,
      autoClose: false,
      highWaterMark: 512 * 1024,
    });
  }

  async read(start: number, end: number): Promise<Buffer> {
    const length = end - start + 1;
    const buf = Buffer.allocUnsafe(length);
    let done = 0;
    while (done < length) {
      const { bytesRead } = await this.handle.read(buf, done, length - done, start + done);
      if (bytesRead === 0) break;
      done += bytesRead;
    }
    return done === length ? buf : buf.subarray(0, done);
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    await this.handle.close();
  }
}
