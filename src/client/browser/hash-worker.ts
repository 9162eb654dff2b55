/**
 * The hashing worker (a dedicated Web Worker, so the page never freezes). The reading worker
 * reads the File ONCE in 8 MiB slices (the next read overlaps the current hash) and computes the
 * whole-file MD5; for a large file it hands each slice on (transferred, not copied) to a second
 * worker that computes the chunk MD5s, so both digests run side by side on two cores. At most
 * three slices wait for the second worker, so memory stays flat (~40 MiB).
 */
import { ChunkIdHasher } from '../core/hashing.js';
import type { HashJob, HashReport, ReadJob, SliceMessage } from './hash-messages.js';
import { wasmMd5 } from './wasm-md5.js';

const SLICE = 8 * 1024 * 1024;
const MAX_WAITING = 3;

function report(msg: HashReport): void {
  self.postMessage(msg);
}

async function read(job: ReadJob): Promise<void> {
  const { blob, port } = job;
  const whole = await wasmMd5();
  const chunks = port ? undefined : new ChunkIdHasher(job.chunkSize, await wasmMd5());
  let waiting = 0;
  let wake: (() => void) | undefined;
  if (port) {
    port.onmessage = () => {
      waiting--;
      wake?.();
    };
  }
  const slice = (at: number) => blob.slice(at, Math.min(blob.size, at + SLICE)).arrayBuffer();
  let next = blob.size > 0 ? slice(0) : undefined;
  for (let at = 0; next; ) {
    const buf = await next;
    at += buf.byteLength;
    next = at < blob.size ? slice(at) : undefined;
    const bytes = new Uint8Array(buf);
    whole.update(bytes);
    if (port) {
      while (waiting >= MAX_WAITING) {
        await new Promise<void>((resolve) => {
          wake = resolve;
        });
      }
      waiting++;
      port.postMessage(buf satisfies SliceMessage, [buf]);
    } else {
      chunks!.update(bytes);
      report({ type: 'progress', done: at });
    }
  }
  report({ type: 'whole', fileId: whole.digest() });
  if (port) port.postMessage(null satisfies SliceMessage);
  else report({ type: 'ids', chunkIds: chunks!.finish() });
}

async function hashChunks(chunkSize: number, port: MessagePort): Promise<void> {
  const chunks = new ChunkIdHasher(chunkSize, await wasmMd5());
  let done = 0;
  port.onmessage = (e: MessageEvent<SliceMessage>) => {
    if (e.data === null) {
      report({ type: 'ids', chunkIds: chunks.finish() });
      return;
    }
    chunks.update(new Uint8Array(e.data));
    done += e.data.byteLength;
    port.postMessage('ack');
    report({ type: 'progress', done });
  };
}

self.onmessage = (e: MessageEvent<HashJob>) => {
  const job = e.data;
  const run = job.type === 'read' ? read(job) : hashChunks(job.chunkSize, job.port);
  run.catch((err: unknown) => report({ type: 'error', message: String(err) }));
};
