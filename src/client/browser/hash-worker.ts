/**
 * The hashing worker (a dedicated Web Worker, so the page never freezes). It reads the File ONCE
 * as a stream and computes the whole-file MD5 and every chunk MD5 in the same pass with the paired
 * MD5 (core/md5-pair.ts: both chains side by side in one WebAssembly loop; see file-hashing.ts),
 * and/or the whole file's SHA-256 (hash-wasm): the page runs one worker for each (worker-hasher.ts).
 *
 * Measured in headless Chromium on 2 cores, 512 MiB File (bench: browser hashing): the paired
 * hash alone ~715 MB/s; reading alone ~1.1 GB/s, but the read is work in the browser process that
 * competes for the same two cores. `blob.stream()` (~2 MiB pieces from the browser's data pipe,
 * bounded by its backpressure) beat slices read three ahead: 8 MiB slices 300–480 MB/s end to end,
 * 16 MiB 390–490, 32 MiB 420–530 (and 96 MiB held), the stream 456–569.
 */
import { hashingOf } from './file-hashing.js';
import type { HashJob, HashReport } from './hash-messages.js';

function report(msg: HashReport): void {
  self.postMessage(msg);
}

async function hash({ blob, chunkSize, part }: HashJob): Promise<void> {
  const hashing = await hashingOf(part, chunkSize);
  const reader = blob.stream().getReader();
  let done = 0;
  for (let r = await reader.read(); !r.done; r = await reader.read()) {
    hashing.update(r.value);
    done += r.value.byteLength;
    report({ type: 'progress', done });
  }
  if (done !== blob.size) throw new Error(`read ${done} bytes of ${blob.size}`);
  report({ type: 'done', ...hashing.finish() });
}

self.onmessage = (e: MessageEvent<HashJob>) => {
  hash(e.data).catch((err: unknown) => report({ type: 'error', message: String(err) }));
};
