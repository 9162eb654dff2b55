/** Messages between the page and the hashing workers (see worker-hasher.ts). */

/** To the reading worker: read `blob` once; hash the whole file, and the chunks too when alone. */
export interface ReadJob {
  type: 'read';
  blob: Blob;
  chunkSize: number;
  /** Present when a second worker hashes the chunks: each slice is passed on through this port. */
  port?: MessagePort;
}

/** To the chunk worker: hash the slices arriving on `port` into chunk ids. */
export interface ChunkJob {
  type: 'chunks';
  chunkSize: number;
  port: MessagePort;
}

export type HashJob = ReadJob | ChunkJob;

export type HashReport =
  | { type: 'progress'; done: number }
  | { type: 'whole'; fileId: string }
  | { type: 'ids'; chunkIds: string[] }
  | { type: 'error'; message: string };

/** Between the two workers: a slice (transferred), the end (null); back: 'ack' per slice. */
export type SliceMessage = ArrayBuffer | null;
