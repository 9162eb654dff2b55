/** What the parallel hasher and its chunk-hashing worker thread say to each other. */

export interface ChunkHashSetup {
  chunkSize: number;
}

/** To the worker: a block of the file in order (its memory is transferred), or null at the end. */
export type ChunkHashInput = { buffer: ArrayBuffer; length: number } | null;

/** From the worker: a block's memory handed back for the next read, or the chunk ids at the end. */
export type ChunkHashOutput = { buffer: ArrayBuffer } | { ids: string[] };
