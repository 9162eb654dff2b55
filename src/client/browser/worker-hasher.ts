/**
 * The browser Hasher: runs hash-worker.js in two Web Workers at once, one for the whole-file and
 * chunk MD5s (one pass, see hash-worker.ts), one for the whole file's SHA-256. Where Workers are
 * not available it hashes on the calling thread, both from the same bytes (file-hashing.ts).
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

/**
 * Two workers, each reading the File on its own: one computes the MD5s (paired, ~715 MB/s alone),
 * the other the SHA-256 (hash-wasm has no faster one, Web Crypto no incremental one), so the
 * slower of the two bounds the time instead of their sum. Progress is the bytes both have hashed.
 */
function hashInWorker(
  blob: Blob,
  chunkSize: number,
  onBytes: (done: number) => void,
  signal: AbortSignal | undefined,
  url: string | URL,
): Promise<FileHashes> {
  if (signal?.aborted) return Promise.reject(abortError());
  const parts = ['md5', 'sha256'] as const;
  const workers = parts.map(() => new Worker(url, { type: 'module' }));
  const done = parts.map(() => 0);
  let reported = 0;
  return new Promise<FileHashes>((resolve, reject) => {
    let md5: Extract<HashReport, { type: 'done' }> | undefined;
    let sha256: string | undefined;
    let settled = false;
    const finish = (result: FileHashes | Error) => {
      if (settled) return;
      settled = true;
      for (const w of workers) w.terminate();
      signal?.removeEventListener('abort', onAbort);
      if (result instanceof Error) reject(result);
      else resolve(result);
    };
    const onAbort = () => finish(abortError());
    signal?.addEventListener('abort', onAbort, { once: true });
    workers.forEach((worker, i) => {
      worker.onmessage = (e: MessageEvent<HashReport>) => {
        const m = e.data;
        if (m.type === 'progress') {
          done[i] = m.done;
          const both = Math.min(...done);
          if (both > reported) {
            reported = both;
            onBytes(both);
          }
        } else if (m.type === 'done') {
          if (parts[i] === 'md5') md5 = m;
          else sha256 = m.sha256;
          if (md5 && sha256 !== undefined)
            finish({ fileId: md5.fileId, chunkSize, chunkIds: md5.chunkIds, sha256 });
        } else finish(new TransferError('LOCAL_IO', `Hashing failed: ${m.message}`));
      };
      worker.onerror = (e: ErrorEvent) => {
        e.preventDefault();
        finish(
          new TransferError('LOCAL_IO', `The hashing worker failed: ${e.message || 'could not load it'}`),
        );
      };
      worker.postMessage({ blob, chunkSize, part: parts[i] } satisfies HashJob);
    });
  });
}
