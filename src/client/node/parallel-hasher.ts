/**
 * Hashing on two cores: this thread computes the whole-file MD5 while a worker thread computes
 * the chunk MD5s from copies of the same buffers. Still ONE read of the file. MD5 cannot be
 * combined from parts, so the two digests are two full passes of CPU; side by side they take the
 * time of one. At most 8 MiB are in flight to the worker, so memory stays flat.
 *
 * The worker's code is a string (eval) so it runs the same from the built package and from the
 * TypeScript sources under test, without a loader.
 */
import { createHash } from 'node:crypto';
import { Worker } from 'node:worker_threads';
import { abortError } from '../core/backoff.js';
import type { Hasher } from '../core/ports.js';

const WORKER = `
const { parentPort, workerData } = require('node:worker_threads');
const { createHash } = require('node:crypto');
const size = workerData.chunkSize;
let h = createHash('md5');
let inPart = 0;
const ids = [];
parentPort.on('message', (msg) => {
  if (msg === null) {
    if (inPart > 0 || ids.length === 0) ids.push(h.digest('hex') + ids.length);
    parentPort.postMessage({ ids });
    return;
  }
  const buf = Buffer.from(msg.buffer, msg.byteOffset, msg.byteLength);
  let off = 0;
  while (off < buf.length) {
    const take = Math.min(size - inPart, buf.length - off);
    h.update(buf.subarray(off, off + take));
    inPart += take;
    off += take;
    if (inPart === size) {
      ids.push(h.digest('hex') + ids.length);
      h = createHash('md5');
      inPart = 0;
    }
  }
  parentPort.postMessage({ done: buf.length });
});
`;

const MAX_IN_FLIGHT = 8 * 1024 * 1024;

export const parallelHasher: Hasher = async (source, chunkSize, onBytes, signal) => {
  const worker = new Worker(WORKER, { eval: true, workerData: { chunkSize } });
  let inFlight = 0;
  let wake: (() => void) | undefined;
  let failure: unknown;
  let resolveIds!: (ids: string[]) => void;
  const idsReady = new Promise<string[]>((resolve) => {
    resolveIds = resolve;
  });
  worker.on('message', (m: { done?: number; ids?: string[] }) => {
    if (m.ids) resolveIds(m.ids);
    else {
      inFlight -= m.done ?? 0;
      wake?.();
    }
  });
  worker.on('error', (err) => {
    failure = err;
    wake?.();
  });
  try {
    const whole = createHash('md5');
    let done = 0;
    for await (const buf of source.stream()) {
      if (signal?.aborted) throw abortError();
      if (failure) throw failure;
      const length = buf.length;
      whole.update(buf);
      // A buffer that owns its memory is handed over (no copy); a view into a shared pool is copied.
      const owned = buf.byteOffset === 0 && buf.buffer.byteLength === buf.length;
      if (owned) worker.postMessage(buf, [buf.buffer as ArrayBuffer]);
      else worker.postMessage(buf);
      inFlight += length;
      while (inFlight > MAX_IN_FLIGHT && !failure) {
        await new Promise<void>((resolve) => {
          wake = resolve;
        });
      }
      done += length;
      onBytes(done);
    }
    if (failure) throw failure;
    worker.postMessage(null);
    const chunkIds = await Promise.race([
      idsReady,
      new Promise<never>((_, reject) => worker.once('error', reject)),
    ]);
    return { fileId: whole.digest('hex'), chunkSize, chunkIds };
  } finally {
    await worker.terminate();
  }
};
