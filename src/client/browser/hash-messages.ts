/** Messages between the page and the hashing workers (see worker-hasher.ts). */

/** What one worker computes: the whole-file and chunk MD5s, the whole file's SHA-256, or both. */
export type HashPart = 'md5' | 'sha256' | 'both';

/** To a worker: read `blob` once and hash it (`part`: both when absent). */
export interface HashJob {
  blob: Blob;
  chunkSize: number;
  part?: HashPart;
}

export type HashReport =
  | { type: 'progress'; done: number }
  | { type: 'done'; fileId: string; chunkIds: string[]; sha256?: string | undefined }
  | { type: 'error'; message: string };
