/**
 * The browser Hasher: runs hash-worker.js in one Web Worker (files up to 16 MiB) or two (larger:
 * one reads and hashes the whole file, the other hashes the chunks; see hash-worker.ts). Where
 * Workers are not available it hashes on the calling thread with the same code.
 */
import { TransferError } from '../../protocol/errors.js';
import { abortError } from '../core/backoff.js';
import { hashSource } from '../core/hashing.js';
import type { FileHashes, Hasher } from '../core/ports.js';
import type { HashJob, HashReport } from './hash-messages.js';
import { wasmMd5 } from './wasm-md5.js';

const TWO_WORKERS_FROM = 16 * 1024 * 1024;

export function defaultHashWorkerUrl(): URL {
  return new URL('./hash-worker.js', import.meta.url);
}

export function workerHasher(workerUrl?: string | URL): Hasher {
  return (source, chunkSize, onBytes, signal) => {
    const blob = (source as { blob?: unknown }).blob;
    if (!(blob instanceof Blob) || typeof Worker === 'undefined')
      return hashSource(source, chunkSize, wasmMd5, onBytes, signal);
    return hashInWorkers(blob, chunkSize, onBytes, signal, workerUrl ?? defaultHashWorkerUrl());
  };
}

function hashInWorkers(
  blob: Blob,
  chunkSize: number,
  onBytes: (done: number) => void,
  signal: AbortSignal | undefined,
  url: string | URL,
): Promise<FileHashes> {
  if (signal?.aborted) return Promise.reject(abortError());
  const two = blob.size > TWO_WORKERS_FROM;
  const workers = Array.from({ length: two ? 2 : 1 }, () => new Worker(url, { type: 'module' }));
  return new Promise<FileHashes>((resolve, reject) => {
    let fileId: string | undefined;
    let chunkIds: string[] | undefined;
    const finish = (err?: unknown) => {
      for (const w of workers) w.terminate();
      signal?.removeEventListener('abort', onAbort);
      if (err !== undefined) reject(err);
      else resolve({ fileId: fileId!, chunkSize, chunkIds: chunkIds! });
    };
    const onAbort = () => finish(abortError());
    signal?.addEventListener('abort', onAbort, { once: true });
    for (const w of workers) {
      w.onmessage = (e: MessageEvent<HashReport>) => {
        const m = e.data;
        if (m.type === 'progress') onBytes(m.done);
        else if (m.type === 'whole') fileId = m.fileId;
        else if (m.type === 'ids') chunkIds = m.chunkIds;
        else finish(new TransferError('LOCAL_IO', `Hashing failed: ${m.message}`));
        if (fileId !== undefined && chunkIds !== undefined) finish();
      };
      w.onerror = (e: ErrorEvent) => {
        e.preventDefault();
        finish(
          new TransferError('LOCAL_IO', `The hashing worker failed: ${e.message || 'could not load it'}`),
        );
      };
    }
    const post = (w: Worker, job: HashJob, transfer: Transferable[] = []) => w.postMessage(job, transfer);
    if (two) {
      const { port1, port2 } = new MessageChannel();
      post(workers[1]!, { type: 'chunks', chunkSize, port: port2 }, [port2]);
      post(workers[0]!, { type: 'read', blob, chunkSize, port: port1 }, [port1]);
    } else {
      post(workers[0]!, { type: 'read', blob, chunkSize });
    }
  });
}
