/**
 * Hashing on two cores: this thread computes the whole-file MD5 while a worker thread
 * (chunk-hash-worker.ts) computes the chunk MD5s and the whole-file SHA-256 from the same
 * buffers, handed over and back. Still ONE read of the file. MD5 cannot be combined from parts, so
 * the two digests are two full passes of CPU; side by side they take the time of one. At most
 * 8 MiB are in flight to the worker, so memory stays flat (measured: the peak RSS of a 1 GiB
 * upload was set while hashing, 184 MB with a fresh 1 MiB buffer per read).
 */
import { createHash, type Hash } from 'node:crypto';
import { extname } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Worker } from 'node:worker_threads';
import { TransferError } from '../../protocol/errors.js';
import { abortError } from '../core/backoff.js';
import type { OnChunkId } from '../core/hashing.js';
import type { ByteSource, FileHashes, Hasher } from '../core/ports.js';
import type {
  ChunkHashDone,
  ChunkHashInput,
  ChunkHashOutput,
  ChunkHashSetup,
} from './chunk-hash-messages.js';

const BLOCK = 1024 * 1024;
/** Blocks in flight to the worker: with a source that reads into our memory, all the memory used. */
const SLOTS = 8;
/** This module's extension: .ts when run from the sources (under tsx), .js from the build in dist/. */
const EXT = extname(fileURLToPath(import.meta.url));
let bundled: Promise<string> | undefined;

/**
 * Starts chunk-hash-worker, the module beside this one. From dist/ it is plain JavaScript. From
 * the sources (the tests and the CLI run under tsx) it is TypeScript, which a worker thread cannot
 * load on Node 20: tsx registers its loader on the main thread only there (privatenumber/tsx#354),
 * and registering tsx again inside each worker cost 0.45–0.6 s of CPU per hash (measured), where
 * the worker used to start in 0.04 s. So from the sources the module is bundled once per process
 * with esbuild (a development dependency, as tsx is, and only ever loaded on this path) and the
 * worker runs that JavaScript.
 */
async function startWorker(setup: ChunkHashSetup): Promise<Worker> {
  const url = new URL(`./chunk-hash-worker${EXT}`, import.meta.url);
  if (EXT !== '.ts') return new Worker(url, { workerData: setup });
  bundled ??= import('esbuild').then(async ({ build }) => {
    const out = await build({
      entryPoints: [fileURLToPath(url)],
      bundle: true,
      platform: 'node',
      format: 'cjs',
      write: false,
      logLevel: 'silent',
    });
    return out.outputFiles[0]!.text;
  });
  return new Worker(await bundled, { eval: true, workerData: setup });
}

/** The chunk-hashing thread and the blocks of memory that travel to it and back. */
class ChunkWorker {
  private readonly done: Promise<ChunkHashDone>;
  /** Blocks back from the worker, ready for the next read. */
  private readonly free: ArrayBuffer[] = [];
  private blocks = 0;
  private outstanding = 0;
  private wake: (() => void) | undefined;
  private failure: unknown;

  static async start(setup: ChunkHashSetup, onChunk?: OnChunkId): Promise<ChunkWorker> {
    return new ChunkWorker(await startWorker(setup), onChunk);
  }

  private constructor(
    private readonly worker: Worker,
    onChunk: OnChunkId | undefined,
  ) {
    this.done = new Promise((resolve) => {
      this.worker.on('message', (m: ChunkHashOutput) => {
        if ('ids' in m) resolve(m);
        else if ('id' in m) onChunk?.(m.index, m.id);
        else {
          this.outstanding--;
          this.free.push(m.buffer);
          this.wake?.();
        }
      });
    });
    this.worker.on('error', (err) => {
      this.failure = err;
      this.wake?.();
    });
  }

  /** Memory for the next read: a block back from the worker, or a new one while fewer than SLOTS exist. */
  async block(): Promise<ArrayBuffer> {
    if (this.free.length === 0 && this.blocks >= SLOTS) await this.whenBelow(SLOTS);
    const reused = this.free.pop();
    if (reused) return reused;
    this.blocks++;
    return new ArrayBuffer(BLOCK);
  }

  /** Hands the first `length` bytes of `buffer` over (the memory moves to the worker). */
  send(buffer: ArrayBuffer, length: number): void {
    this.outstanding++;
    this.worker.postMessage({ buffer, length } satisfies ChunkHashInput, [buffer]);
  }

  /** Waits until fewer than `n` blocks are with the worker; throws what the worker threw. */
  async whenBelow(n: number): Promise<void> {
    while (this.outstanding >= n && !this.failure) {
      await new Promise<void>((resolve) => {
        this.wake = resolve;
      });
    }
    if (this.failure) throw this.failure;
  }

  /** The chunk ids and the whole-file SHA-256, once every block sent is hashed. */
  async finish(): Promise<ChunkHashDone> {
    await this.whenBelow(1);
    this.worker.postMessage(null satisfies ChunkHashInput);
    return Promise.race([this.done, new Promise<never>((_, reject) => this.worker.once('error', reject))]);
  }

  terminate(): Promise<number> {
    return this.worker.terminate();
  }
}

interface Feed {
  /** The whole file's MD5 on this thread; undefined when the worker computes it (no chunk ids). */
  whole: Hash | undefined;
  chunks: ChunkWorker;
  onBytes: (done: number) => void;
  signal: AbortSignal | undefined;
}

/** Reads into a few blocks that travel to the worker and back: flat memory, no copies. */
async function readBlocks(source: ByteSource, readInto: NonNullable<ByteSource['readInto']>, feed: Feed) {
  for (let done = 0; done < source.size; ) {
    if (feed.signal?.aborted) throw abortError();
    const buffer = await feed.chunks.block();
    const view = new Uint8Array(buffer, 0, Math.min(BLOCK, source.size - done));
    const n = await readInto(view, done);
    if (n === 0) throw new TransferError('LOCAL_IO', `${source.name} changed while hashing (it is shorter)`);
    feed.whole?.update(view.subarray(0, n));
    feed.chunks.send(buffer, n);
    done += n;
    feed.onBytes(done);
  }
}

/** A source that can only stream: a copy of each piece goes to the worker (the stream may reuse its buffers). */
async function streamBlocks(source: ByteSource, feed: Feed) {
  let done = 0;
  for await (const buf of source.stream()) {
    if (feed.signal?.aborted) throw abortError();
    feed.whole?.update(buf);
    feed.chunks.send(new Uint8Array(buf).buffer, buf.length);
    await feed.chunks.whenBelow(SLOTS);
    done += buf.length;
    feed.onBytes(done);
  }
}

/**
 * The hashes of a source on two cores. `chunkIds: false`: the whole file's MD5 and SHA-256 alone
 * (chunkIds answered empty), both on the worker, for a deferred upload whose chunks go with a
 * checksum instead: this thread reads and sends.
 */
export async function hashOnTwoCores(
  source: ByteSource,
  chunkSize: number,
  onBytes: (done: number) => void,
  signal: AbortSignal | undefined,
  onChunk: OnChunkId | undefined,
  chunkIds = true,
): Promise<FileHashes> {
  // The ids of whole chunks come from the worker as it hashes them; the last partial one at the end.
  let told = 0;
  const tell = onChunk
    ? (index: number, id: string) => {
        told = index + 1;
        onChunk(index, id);
      }
    : undefined;
  const feed: Feed = {
    whole: chunkIds ? createHash('md5') : undefined,
    chunks: await ChunkWorker.start({ chunkSize, chunkIds }, tell),
    onBytes,
    signal,
  };
  try {
    const readInto = source.readInto?.bind(source);
    await (readInto ? readBlocks(source, readInto, feed) : streamBlocks(source, feed));
    const done = await feed.chunks.finish();
    const { ids, sha256 } = done;
    for (let i = told; tell && i < ids.length; i++) tell(i, ids[i]!);
    const fileId = feed.whole ? feed.whole.digest('hex') : done.md5;
    if (fileId === undefined) throw new Error('the hashing worker answered no MD5');
    return { fileId, chunkSize, chunkIds: ids, sha256 };
  } finally {
    await feed.chunks.terminate();
  }
}

export const parallelHasher: Hasher = (source, chunkSize, onBytes, signal, onChunk) =>
  hashOnTwoCores(source, chunkSize, onBytes, signal, onChunk);
