/** A file on disk as an upload source. */
import { createReadStream, openAsBlob, type Stats } from 'node:fs';
import { type FileHandle, open, realpath, stat } from 'node:fs/promises';
import { basename } from 'node:path';
import { TransferError } from '../../protocol/errors.js';
import type { ByteSource } from '../core/ports.js';

/**
 * A chunk is read from disk in pieces of this size as it is sent. A Blob of fs.openAsBlob streams
 * in 64 KiB reads, each its own trip to the thread pool and its own buffer: a 256 MiB upload took
 * ~40% more CPU than reading each 4 MiB chunk whole (and ~7% more time); 1 MiB reads took ~10%
 * more CPU, no more time, and hold a quarter of a 4 MiB chunk.
 */
const PIECE = 1024 * 1024;

/** The one error for a file that is no longer the one the source was made of. */
function changed(path: string, cause?: unknown): TransferError {
  return new TransferError('LOCAL_IO', `${path} changed while uploading (modified, replaced or removed)`, {
    cause,
  });
}

/** The file the source was made of, unchanged: the same file, size and mtime (as cacheKey says). */
function unchanged(made: Stats, now: Stats): boolean {
  return (
    now.ino === made.ino && now.dev === made.dev && now.size === made.size && now.mtimeMs === made.mtimeMs
  );
}

/** Bytes start..end-1 of the file, read piece by piece; fails once the file changed. */
async function* piecesOf(
  path: string,
  made: Stats,
  start: number,
  end: number,
): AsyncGenerator<Uint8Array<ArrayBuffer>> {
  const fh = await open(path, 'r').catch((err: unknown) => {
    throw changed(path, err);
  });
  try {
    for (let at = start; at < end; ) {
      const piece = Buffer.allocUnsafe(Math.min(PIECE, end - at));
      const { bytesRead } = await fh.read(piece, 0, piece.length, at);
      // Checked after the read, before the piece is handed on: no byte of a changed file goes.
      if (bytesRead === 0 || !unchanged(made, await fh.stat())) throw changed(path);
      at += bytesRead;
      yield piece.subarray(0, bytesRead);
    }
  } finally {
    await fh.close();
  }
}

/**
 * A slice of the file as a request body: a Blob of its bytes (fs.openAsBlob's slice: read only when
 * read, and refused once the file changed), whose stream(), what the transport sends, reads the
 * file in PIECE-sized pieces.
 */
class FileSlice extends Blob {
  constructor(
    part: Blob,
    private readonly path: string,
    private readonly made: Stats,
    private readonly start: number,
  ) {
    super([part]);
  }

  override stream(): ReadableStream<Uint8Array<ArrayBuffer>> {
    const pieces = piecesOf(this.path, this.made, this.start, this.start + this.size);
    return new ReadableStream(
      {
        async pull(controller) {
          const { done, value } = await pieces.next();
          if (done) controller.close();
          else controller.enqueue(value);
        },
        // The request stopped: the file is closed.
        cancel: async () => void (await pieces.return(undefined)),
      },
      { highWaterMark: 0 },
    );
  }
}

export async function fileSource(path: string): Promise<ByteSource> {
  let made: Stats;
  let real: string;
  try {
    made = await stat(path);
    real = await realpath(path);
  } catch (err: unknown) {
    throw new TransferError('LOCAL_IO', `Cannot read ${path}: ${(err as Error).message}`, { cause: err });
  }
  if (!made.isFile()) throw new TransferError('LOCAL_IO', `${path} is not a file`);
  const blob = await openAsBlob(path).catch((err: unknown) => {
    throw changed(path, err);
  });
  if (blob.size !== made.size) throw changed(path);
  let reader: Promise<FileHandle> | undefined;
  return {
    name: basename(path),
    size: made.size,
    // Unchanged file ⇔ same path, size and mtime: then its hashes can be reused.
    cacheKey: `${real}|${made.size}|${made.mtimeMs}`,
    async *stream() {
      for await (const buf of createReadStream(path, { highWaterMark: 1024 * 1024 })) yield buf as Buffer;
    },
    // One descriptor for every read of the hashing pass and the chunk checksums, opened at the
    // first (an open and a close per 1 MiB read took ~0.3 s of CPU per 256 MiB, profiled), closed
    // by close().
    async readInto(target: Uint8Array, position: number) {
      reader ??= open(path, 'r');
      const fh = await reader;
      return (await fh.read(target, 0, target.length, position)).bytesRead;
    },
    async close() {
      const fh = reader;
      reader = undefined;
      await (await fh?.catch(() => undefined))?.close();
    },
    // Checked as the chunks are: after a chunk's body failed, the upload reads a byte of it to
    // tell a changed file (LOCAL_IO, not retried) from a network error.
    async slice(start: number, end: number) {
      const pieces: Uint8Array[] = [];
      for await (const piece of piecesOf(path, made, start, end)) pieces.push(piece);
      return pieces.length === 1 ? pieces[0]! : Buffer.concat(pieces);
    },
    // Streamed by the transport as it is sent: never a whole chunk in memory.
    sliceBody: (start: number, end: number) => new FileSlice(blob.slice(start, end), path, made, start),
  };
}
