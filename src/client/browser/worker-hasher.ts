/**
 * The browser Hasher: runs hash-worker.js in a Web Worker (one read of the file, the whole-file
 * and chunk MD5s in the same pass; see hash-worker.ts). Where Workers are not available it hashes
 * on the calling thread the same way (file-hashing.ts).
 */
import { TransferError } from '../../protocol/errors.js';
import { abortError } from '../core/backoff.js';
import { hashSource } from '../core/hashing.js';
import type { FileHashes, Hasher } from '../core/ports.js';
import { browserHashing } from './file-hashing.js';
import type { HashJob, HashReport } from './hash-messages.js';

export function defaultHashWorkerUrl(): URL {
  return new URL('./hash-worker.js', import.meta.url);
}

export function workerHasher(workerUrl?: string | URL): Hasher {
  return (source, chunkSize, onBytes, signal) => {
    const blob = (source as { blob?: unknown }).blob;
    if (!(blob instanceof Blob) || typeof Worker === 'undefined')
      return hashSource(source, chunkSize, browserHashing, onBytes, signal);
    return hashInWorker(blob, chunkSize, onBytes, signal, workerUrl ?? defaultHashWorkerUrl());
  };
}

function hashInWorker(
  blob: Blob,
  chunkSize: number,
  onBytes: (done: number) => void,
  signal: AbortSignal | undefined,
  url: string | URL,
): Promise<FileHashes> {
  if (signal?.aborted) return Promise.reject(abortError());
  const worker = new Worker(url, { type: 'module' });
  return new Promise<FileHashes>((resolve, reject) => {
    const finish = (result: FileHashes | Error) => {
      worker.terminate();
      signal?.removeEventListener('abort', onAbort);
      if (result instanceof Error) reject(result);
      else resolve(result);
    };
    const onAbort = () => finish(abortError());
    signal?.addEventListener('abort', onAbort, { once: true });
    worker.onmessage = (e: MessageEvent<HashReport>) => {
      const m = e.data;
      if (m.type === 'progress') onBytes(m.done);
      else if (m.type === 'done')
        finish({
          fileId: m.fileId,
          chunkSize,
          chunkIds: m.chunkIds,
          ...(m.sha256 === undefined ? {} : { sha256: m.sha256 }),
        });
      else finish(new TransferError('LOCAL_IO', `Hashing failed: ${m.message}`));
    };
    worker.onerror = (e: ErrorEvent) => {
      e.preventDefault();
      finish(new TransferError('LOCAL_IO', `The hashing worker failed: ${e.message || 'could not load it'}`));
    };
    worker.postMessage({ blob, chunkSize } satisfies HashJob);
  });
}
