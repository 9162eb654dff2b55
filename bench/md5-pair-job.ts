/**
 * The job the paired MD5 exists for, runnable in Node and in a browser page alike: the whole-file
 * MD5 and every 4 MiB chunk MD5 of a 512 MiB buffer, fed in 2 MiB pieces (the size blob.stream()
 * hands over), by the hand-written paired module and by hash-wasm (two digests per piece).
 */
import { wasmMd5 } from '../src/client/browser/wasm-md5.js';
import { type FileHashing, sequentialHashes } from '../src/client/core/hashing.js';
import { pairedHashes } from '../src/client/core/md5-pair.js';

const MiB = 1024 * 1024;
const SIZE = 512 * MiB;
const CHUNK = 4 * MiB;
const PIECE = 2 * MiB;

export interface Md5PairFigures {
  /** MB/s of each run, per contender. */
  paired: number[];
  hashWasm: number[];
}

/** Pseudo-random bytes (xorshift32): MD5's speed does not depend on them, only the check does. */
function buffer(): Uint8Array {
  const words = new Uint32Array(SIZE / 4);
  let x = 2463534242;
  for (let i = 0; i < words.length; i++) {
    x ^= x << 13;
    x ^= x >>> 17;
    x ^= x << 5;
    words[i] = x >>> 0;
  }
  return new Uint8Array(words.buffer);
}

async function run(start: (chunkSize: number) => Promise<FileHashing>, data: Uint8Array) {
  const t = performance.now();
  const hashing = await start(CHUNK);
  for (let at = 0; at < data.length; at += PIECE) hashing.update(data.subarray(at, at + PIECE));
  const result = hashing.finish();
  return { mbps: data.length / 1e6 / ((performance.now() - t) / 1000), fileId: result.fileId };
}

/** `runs` timed runs of each contender, alternating, after one untimed run each (compile, warm up). */
export async function measureMd5Pair(runs: number): Promise<Md5PairFigures> {
  const data = buffer();
  const paired = (n: number) => pairedHashes(n);
  const hashWasm = (n: number) => sequentialHashes(n, wasmMd5);
  await run(paired, data.subarray(0, 64 * MiB));
  await run(hashWasm, data.subarray(0, 64 * MiB));
  const out: Md5PairFigures = { paired: [], hashWasm: [] };
  for (let i = 0; i < runs; i++) {
    const a = await run(paired, data);
    const b = await run(hashWasm, data);
    if (a.fileId !== b.fileId) throw new Error(`MD5s differ: ${a.fileId} vs ${b.fileId}`);
    out.paired.push(a.mbps);
    out.hashWasm.push(b.mbps);
  }
  return out;
}
