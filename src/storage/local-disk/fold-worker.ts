/**
 * One worker thread per process (fold-thread.ts) that folds regions of files into running MD5s
 * (and SHA-256s),
 * so the whole-file MD5 of an in-place upload is computed on the second core while the event loop
 * receives chunks (the loop already spends ~1.4 s per GiB on the chunks' own MD5s). The worker
 * reads the regions from the file itself: no bytes are copied between threads. Requests are
 * handled in order, so a digest answers after every region sent before it.
 */
import type { Worker } from 'node:worker_threads';
import { startThread, threadModule } from '../../io/threads.js';
import type { FoldReply, FoldRequest } from './fold-thread.js';

const THREAD = threadModule(import.meta.url, 'fold-thread');

let worker: Worker | undefined;
let seq = 0;
/** What a fold computed: the MD5 and the SHA-256 of the regions added. */
export type FoldDigest = { md5: string; sha256: string };

const waiting = new Map<number, (digest: FoldDigest | null) => void>();

function get(): Worker {
  if (worker) return worker;
  const w = startThread(THREAD);
  w.on('message', (m: FoldReply) => {
    waiting.get(m.seq)?.(m.digest);
    waiting.delete(m.seq);
    if (waiting.size === 0) w.unref();
  });
  w.on('error', () => {
    // Every pending digest falls back to hashing on the loop; the next fold starts a new worker.
    if (worker === w) worker = undefined;
    for (const done of waiting.values()) done(null);
    waiting.clear();
  });
  // After the listeners (adding one refs the worker again): an idle fold never keeps a process alive.
  w.unref();
  worker = w;
  return w;
}

function send(w: Worker, request: FoldRequest): void {
  w.postMessage(request);
}

let nextKey = 0;

/** A running MD5 and SHA-256 over regions of one file, computed in the fold worker. */
export class WorkerFold {
  private readonly key = ++nextKey;
  private w: Worker | undefined;

  /** `path`: the file add() reads when it is given none. */
  constructor(private readonly path = '') {}

  /** Adds bytes offset..offset+length-1 of the file, or of the file at `path` (in call order). */
  add(offset: number, length: number, path: string = this.path): void {
    this.w ??= get();
    send(this.w, { op: 'hash', key: this.key, path, offset, length });
  }

  /** The digests of everything added, or null if the worker could not read it (then hash yourself). */
  digest(): Promise<FoldDigest | null> {
    const w = this.w ?? get();
    if (w !== worker) return Promise.resolve(null);
    const n = ++seq;
    return new Promise((resolve) => {
      waiting.set(n, resolve);
      // Someone waits for an answer: keep the process alive until it comes.
      w.ref();
      send(w, { op: 'digest', key: this.key, seq: n });
    });
  }

  /** Forgets the running hash. */
  drop(): void {
    if (this.w) send(this.w, { op: 'drop', key: this.key });
    this.w = undefined;
  }
}
