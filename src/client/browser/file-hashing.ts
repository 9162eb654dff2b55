/**
 * The browser's file hashing, in the hashing workers and on the page alike (no Worker): the paired
 * MD5 (both digests in one WebAssembly loop, core/md5-pair.ts) when the chunk size is a multiple
 * of 64 bytes, else two hash-wasm digests one after the other; and the whole file's SHA-256
 * (hash-wasm). With Workers the two run in two workers at once (worker-hasher.ts); on the page,
 * one after the other from the same bytes.
 */
import { type FileHashing, sequentialHashes, withSha256 } from '../core/hashing.js';
import { pairable, pairedHashes } from '../core/md5-pair.js';
import type { HashPart } from './hash-messages.js';
import { wasmMd5, wasmSha256 } from './wasm-md5.js';

function md5Hashing(chunkSize: number): Promise<FileHashing> {
  return pairable(chunkSize) ? pairedHashes(chunkSize) : sequentialHashes(chunkSize, wasmMd5);
}

/** The whole file's SHA-256 alone (its MD5s are another worker's). */
async function sha256Hashing(): Promise<FileHashing> {
  const sha = await wasmSha256();
  return {
    update: (bytes) => sha.update(bytes),
    finish: () => ({ fileId: '', chunkIds: [], sha256: sha.digest() }),
  };
}

export const browserHashing = withSha256(md5Hashing, wasmSha256);

/** The hashing of one part of the job: the MD5s, the SHA-256, or both from the same bytes. */
export function hashingOf(part: HashPart | undefined, chunkSize: number): Promise<FileHashing> {
  if (part === 'md5') return md5Hashing(chunkSize);
  if (part === 'sha256') return sha256Hashing();
  return browserHashing(chunkSize);
}
