/** Messages between the page and the hashing worker (see worker-hasher.ts). */

/** To the worker: read `blob` once and hash the whole file and its chunks. */
export interface HashJob {
  blob: Blob;
  chunkSize: number;
}

export type HashReport =
  | { type: 'progress'; done: number }
  | { type: 'done'; fileId: string; chunkIds: string[]; sha256?: string | undefined }
  | { type: 'error'; message: string };
