/**
 * The browser's file hashing, in the hashing worker and on the page alike (no Worker): the paired
 * MD5 (both digests in one WebAssembly loop, core/md5-pair.ts) when the chunk size is a multiple
 * of 64 bytes, else two hash-wasm digests one after the other; and the whole file's SHA-256
 * (hash-wasm) fed the same bytes.
 */
import { type FileHashing, sequentialHashes, withSha256 } from '../core/hashing.js';
import { pairable, pairedHashes } from '../core/md5-pair.js';
import { wasmMd5, wasmSha256 } from './wasm-md5.js';

function md5Hashing(chunkSize: number): Promise<FileHashing> {
  return pairable(chunkSize) ? pairedHashes(chunkSize) : sequentialHashes(chunkSize, wasmMd5);
}

export const browserHashing = withSha256(md5Hashing, wasmSha256);
