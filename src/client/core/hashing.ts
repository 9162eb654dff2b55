/** One pass over the file: the whole-file MD5, its SHA-256 and every chunk's MD5 from the same bytes. */
import { abortError } from './backoff.js';
import type { ByteSource, FileHashes, Md5, Md5Factory, Sha256Factory } from './ports.js';

export function chunkCount(size: number, chunkSize: number): number {
  return Math.max(1, Math.ceil(size / chunkSize));
}

/**
 * Chunk ids (MD5 + index, PROTOCOL.md) from bytes fed in order, in pieces of any size. Used by
 * the one-thread hasher here and by the hashing workers (Node thread, browser Worker).
 */
export class ChunkIdHasher {
  readonly ids: string[] = [];
  private inPart = 0;

  constructor(
    private readonly chunkSize: number,
    private readonly md5: Md5,
  ) {}

  update(buf: Uint8Array): void {
    let off = 0;
    while (off < buf.length) {
      const take = Math.min(this.chunkSize - this.inPart, buf.length - off);
      this.md5.update(off === 0 && take === buf.length ? buf : buf.subarray(off, off + take));
      this.inPart += take;
      off += take;
      if (this.inPart === this.chunkSize) {
        this.ids.push(this.md5.digest() + this.ids.length);
        this.inPart = 0;
      }
    }
  }

  /** The ids of all chunks; the last partial chunk counts, and an empty file is one empty chunk. */
  finish(): string[] {
    if (this.inPart > 0 || this.ids.length === 0) this.ids.push(this.md5.digest() + this.ids.length);
    this.inPart = 0;
    return this.ids;
  }
}

/** Feeds the bytes of a file in order, in pieces of any size; `finish` once at the end. */
export interface FileHashing {
  update(bytes: Uint8Array): void;
  finish(): { fileId: string; chunkIds: string[]; sha256?: string };
  /**
   * The ids of the chunks complete so far (the last partial one only after finish), for a
   * deferred upload that sends each chunk once its id is known. Optional: without it the ids come
   * at the end.
   */
  chunkIdsSoFar?(): readonly string[];
}

/** Called with each chunk's id (MD5 + index) as soon as it is known, in file order. */
export type OnChunkId = (index: number, id: string) => void;

/** Reports the ids `hashing` has completed since `reported`; returns how many are reported now. */
function reportIds(hashing: FileHashing, reported: number, onChunk: OnChunkId | undefined): number {
  const ids = onChunk && hashing.chunkIdsSoFar?.();
  if (!ids) return reported;
  for (let i = reported; i < ids.length; i++) onChunk!(i, ids[i]!);
  return ids.length;
}

/** The file MD5 and the chunk ids for any chunk size, with two digests one after the other. */
export async function sequentialHashes(chunkSize: number, createMd5: Md5Factory): Promise<FileHashing> {
  const whole = await createMd5();
  const chunks = new ChunkIdHasher(chunkSize, await createMd5());
  return {
    update(bytes) {
      whole.update(bytes);
      chunks.update(bytes);
    },
    finish: () => ({ fileId: whole.digest(), chunkIds: chunks.finish() }),
    chunkIdsSoFar: () => chunks.ids,
  };
}

/** Starts a FileHashing for a chunk size (sequential digests, the paired MD5, …). */
export type StartHashing = (chunkSize: number) => Promise<FileHashing>;

/** Two digests one after the other with this MD5, for any chunk size. */
export const withMd5 =
  (createMd5: Md5Factory): StartHashing =>
  (chunkSize) =>
    sequentialHashes(chunkSize, createMd5);

/** Adds the whole file's SHA-256, fed the same bytes, to a FileHashing. */
export const withSha256 =
  (start: StartHashing, createSha256: Sha256Factory): StartHashing =>
  async (chunkSize) => {
    const hashing = await start(chunkSize);
    const sha = await createSha256();
    return {
      update(bytes) {
        hashing.update(bytes);
        sha.update(bytes);
      },
      finish: () => ({ ...hashing.finish(), sha256: sha.digest() }),
      ...(hashing.chunkIdsSoFar ? { chunkIdsSoFar: hashing.chunkIdsSoFar.bind(hashing) } : {}),
    };
  };

export async function hashSource(
  source: ByteSource,
  chunkSize: number,
  start: StartHashing,
  onBytes: (done: number) => void,
  signal?: AbortSignal,
  onChunk?: OnChunkId,
): Promise<FileHashes> {
  const hashing = await start(chunkSize);
  let done = 0;
  let reported = 0;
  for await (const buf of source.stream()) {
    if (signal?.aborted) throw abortError();
    hashing.update(buf);
    reported = reportIds(hashing, reported, onChunk);
    done += buf.length;
    onBytes(done);
  }
  const hashes = { ...hashing.finish(), chunkSize };
  if (onChunk) for (let i = reported; i < hashes.chunkIds.length; i++) onChunk(i, hashes.chunkIds[i]!);
  return hashes;
}
