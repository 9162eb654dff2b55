/**
 * The browser's file hashing, in the hashing worker and on the page alike (no Worker): the paired
 * MD5 (both digests in one WebAssembly loop, core/md5-pair.ts) when the chunk size is a multiple
 * of 64 bytes, else two hash-wasm digests one after the other.
 */
import { type FileHashing, sequentialHashes } from '../core/hashing.js';
import { pairable, pairedHashes } from '../core/md5-pair.js';
import { wasmMd5 } from './wasm-md5.js';

export function browserHashing(chunkSize: number): Promise<FileHashing> {
  return pairable(chunkSize) ? pairedHashes(chunkSize) : sequentialHashes(chunkSize, wasmMd5);
}
