/**
 * The worker thread of the parallel hasher (parallel-hasher.ts): the chunk MD5s and the whole
 * file's SHA-256 of the blocks it is handed, in order. Each block's memory goes back to the
 * reader, which reads the next block into it.
 */
import { parentPort, workerData } from 'node:worker_threads';
import { ChunkIdHasher } from '../core/hashing.js';
import type { ChunkHashInput, ChunkHashOutput, ChunkHashSetup } from './chunk-hash-messages.js';
import { nodeMd5, nodeSha256 } from './node-md5.js';

const port = parentPort!;
const setup = workerData as ChunkHashSetup;
// Without chunk ids (a deferred upload whose chunks go with a checksum): the whole file's MD5 here
// beside the SHA-256, so the reading thread is left to the sending (profiled, 256 MiB with
// --deferred: the reading thread was busy 3.5 s of 4.2, 0.9 s of it MD5, this one idle 2.5 s).
const chunks = setup.chunkIds === false ? undefined : new ChunkIdHasher(setup.chunkSize, nodeMd5());
const whole = setup.chunkIds === false ? nodeMd5() : undefined;
const sha = nodeSha256();

function reply(msg: ChunkHashOutput, transfer: ArrayBuffer[] = []): void {
  port.postMessage(msg, transfer);
}

/** Ids told so far: each new one is told at once (a deferred upload sends its chunk then). */
let told = 0;

port.on('message', (msg: ChunkHashInput) => {
  if (msg === null) {
    reply({ ids: chunks?.finish() ?? [], sha256: sha.digest(), ...(whole ? { md5: whole.digest() } : {}) });
    return;
  }
  const block = new Uint8Array(msg.buffer, 0, msg.length);
  chunks?.update(block);
  whole?.update(block);
  sha.update(block);
  for (; chunks && told < chunks.ids.length; told++) reply({ index: told, id: chunks.ids[told]! });
  reply({ buffer: msg.buffer }, [msg.buffer]);
});
