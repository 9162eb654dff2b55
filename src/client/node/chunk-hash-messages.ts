/** What the parallel hasher and its chunk-hashing worker thread say to each other. */

export interface ChunkHashSetup {
  chunkSize: number;
  /**
   * False: no chunk MD5s (their chunks go with a checksum); the worker then computes the whole
   * file's MD5 too, beside its SHA-256, which leaves the reading thread to the sending.
   */
  chunkIds?: boolean;
}

/** To the worker: a block of the file in order (its memory is transferred), or null at the end. */
export type ChunkHashInput = { buffer: ArrayBuffer; length: number } | null;

/** The worker's last word: the chunk ids and the whole file's SHA-256 (hex), fed the same blocks. */
export interface ChunkHashDone {
  ids: string[];
  sha256: string;
  /** The whole file's MD5 (hex), when the worker computed it (setup.chunkIds false). */
  md5?: string;
}

/** A chunk whose id is known (told as soon as its last byte is hashed, for a deferred upload). */
export interface ChunkHashId {
  index: number;
  id: string;
}

/**
 * From the worker: a block's memory handed back for the next read, a chunk's id, or what it
 * computed at the end.
 */
export type ChunkHashOutput = { buffer: ArrayBuffer } | ChunkHashId | ChunkHashDone;
