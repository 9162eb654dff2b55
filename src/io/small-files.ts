/**
 * Small files written atomically (temp file, rename) without fsync, in one trip to a thread of
 * their own (small-files-thread.ts) instead of five through the thread pool: a handshake writes
 * its plan so, a tus PATCH its record. Measured during a 512 MiB upload (2 cores): a request
 * without file work answered in 10 ms at the median, a handshake, a dozen trips one after the
 * other, in 96 ms. Where the thread cannot start, undefined: the caller takes the pool
 * (fs-util.ts writeFileAtomic).
 */
import type { Worker } from 'node:worker_threads';
import type { SmallFileReply, SmallFileRequest } from './small-files-thread.js';
import { startThread, threadModule } from './threads.js';

const THREAD = threadModule(import.meta.url, 'small-files-thread');

let worker: Worker | undefined;
let broken = false;
let seq = 0;
const waiting = new Map<number, { resolve: () => void; reject: (err: Error) => void }>();

function thread(): Worker | undefined {
  if (worker || broken) return worker;
  try {
    const w = startThread(THREAD);
    w.on('message', (m: SmallFileReply) => {
      const w8 = waiting.get(m.seq);
      waiting.delete(m.seq);
      if (waiting.size === 0) w.unref();
      if (!w8) return;
      if (!m.error) w8.resolve();
      else w8.reject(Object.assign(new Error(m.error.message), m.error.code ? { code: m.error.code } : {}));
    });
    // It should never fail; if it does, what waits fails (the callers answer 500 or retry) and
    // the next write starts a new thread.
    const fail = (err: Error) => {
      if (worker === w) worker = undefined;
      for (const w8 of waiting.values()) w8.reject(err);
      waiting.clear();
    };
    w.on('error', fail);
    w.on('exit', (code) => fail(new Error(`the small-files thread exited (${code})`)));
    w.unref();
    worker = w;
  } catch {
    broken = true;
  }
  return worker;
}

/**
 * Starts the thread now (the storage does when it opens), so that the first writes do not wait
 * for it: started at the first write, it held the first handshakes of a busy server 80–170 ms
 * (three probes of 167 in a bench window, its whole p99; the thread answers in under 1 ms after).
 */
export function startSmallFilesThread(): void {
  thread();
}

/**
 * Creates `dirs` (each if missing), then writes `data` to `tmp` and renames it over `path`;
 * undefined where the thread cannot run.
 */
export function writeSmallFile(
  path: string,
  tmp: string,
  data: string,
  dirs: readonly string[],
): Promise<void> | undefined {
  const w = thread();
  if (!w) return undefined;
  return new Promise((resolve, reject) => {
    const request: SmallFileRequest = { seq: ++seq, path, tmp, data, dirs: [...dirs] };
    waiting.set(request.seq, { resolve, reject });
    w.ref();
    w.postMessage(request);
  });
}
