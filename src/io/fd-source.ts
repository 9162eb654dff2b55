/**
 * What the range server reads from: one open descriptor on one version of the bytes. Holding it
 * for the whole response is what keeps a download consistent when the file is replaced by a
 * rename while it runs.
 *
 * Opening, fstat and closing use direct syscalls (metadata on a local disk answers in
 * microseconds) and only the data reads go to libuv's thread pool: with every call async, a small
 * range request made six pool round trips and the event loop sat idle 40% of the time waiting for
 * them (profiled with wrk, 32 connections).
 */
import { closeSync, constants, createReadStream, fstatSync, open, openSync, read } from 'node:fs';
import type { Readable } from 'node:stream';
import { errno, mapFsError } from './fs-util.js';
import { nativeSendfile } from './native-sendfile.js';
import type { RangeSource, SocketSender } from './range-source.js';

function sendfileError(n: number): Error {
  return Object.assign(new Error(`sendfile failed (errno ${-n})`), { errno: -n });
}

/** The open errors that mean "there is no regular file here"; any other is the server's trouble. */
const NOT_FOUND = new Set(['ENOENT', 'ENOTDIR', 'ELOOP', 'ENAMETOOLONG', 'EISDIR']);

export interface OpenedFd {
  source: FdSource;
  ino: bigint;
  mtimeNs: bigint;
}

export class FdSource implements RangeSource, SocketSender {
  private closed = false;

  private constructor(
    private readonly fd: number,
    readonly size: number,
    readonly mtime: Date,
  ) {}

  /**
   * Opens a regular file (never following a symlink in its last component, never blocking on a
   * FIFO); undefined if it is missing, a symlink (ELOOP) or not a regular file. Any other error
   * throws: out of descriptors is SERVER_BUSY (503), never a "not found" for a file that exists.
   */
  static open(path: string): OpenedFd | undefined {
    let fd: number;
    try {
      fd = openSync(path, constants.O_RDONLY | constants.O_NOFOLLOW | constants.O_NONBLOCK);
    } catch (err: unknown) {
      if (NOT_FOUND.has(errno(err) ?? '')) return undefined;
      throw mapFsError(err);
    }
    try {
      const st = fstatSync(fd, { bigint: true });
      if (!st.isFile()) {
        closeSync(fd);
        return undefined;
      }
      return {
        // Rounded to the millisecond like fs.stat's own Date (bigint mtimeMs is truncated), so a
        // file's time is the same whichever way it was looked up (statFile vs openFile).
        source: new FdSource(fd, Number(st.size), new Date(Math.round(Number(st.mtimeNs / 1000n) / 1000))),
        ino: st.ino,
        mtimeNs: st.mtimeNs,
      };
    } catch (err: unknown) {
      closeSync(fd);
      throw mapFsError(err);
    }
  }

  stream(start: number, end: number): Readable {
    // An fs stream closes its descriptor when destroyed (a client going away mid-response), even
    // with autoClose:false. Closing it again here would then hit whatever reused that number, a
    // socket libuv polls included (seen as SIGABRT). So the stream gets a close that does nothing:
    // this source alone owns the descriptor.
    return createReadStream('', {
      fd: this.fd,
      start,
      end,
      autoClose: false,
      highWaterMark: 1024 * 1024,
      fs: { open, read, close: (_fd: number, cb: (err: NodeJS.ErrnoException | null) => void) => cb(null) },
    });
  }

  async read(start: number, end: number): Promise<Buffer> {
    const length = end - start + 1;
    const buf = Buffer.allocUnsafe(length);
    let done = 0;
    while (done < length) {
      const n = await new Promise<number>((resolve, reject) =>
        read(this.fd, buf, done, length - done, start + done, (err, bytesRead) =>
          err ? reject(err) : resolve(bytesRead),
        ),
      );
      if (n === 0) break;
      done += n;
    }
    return done === length ? buf : buf.subarray(0, done);
  }

  /** This source itself, where the addon is built (its methods below; no object per request). */
  readonly sendfile: SocketSender | undefined = nativeSendfile ? this : undefined;

  now(socketFd: number, position: number, count: number): number {
    const n = nativeSendfile!.now(socketFd, this.fd, position, count);
    if (n < 0) throw sendfileError(n);
    return n;
  }

  pooled(socketFd: number, position: number, count: number): Promise<number> {
    return new Promise((resolve, reject) => {
      nativeSendfile!.pooled(socketFd, this.fd, position, count, (n) =>
        n >= 0 ? resolve(n) : reject(sendfileError(n)),
      );
    });
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    closeSync(this.fd);
  }
}
