/**
 * One worker thread per process that folds regions of files into running MD5s, so the whole-file
 * MD5 of an in-place upload is computed on the second core while the event loop receives chunks
 * (the loop already spends ~1.4 s per GiB on the chunks' own MD5s). Requests are handled in
 * order, so a digest answers after every region sent before it. Reads are synchronous inside the
 * worker: it has nothing else to do, and the regions were just written (page cache).
 *
 * The worker's code is a string (eval), like the client's parallel hasher, so it runs the same
 * from the built package and from the TypeScript sources under test.
 */
import { Worker } from 'node:worker_threads';

const CODE = `
const { parentPort } = require('node:worker_threads');
const { createHash } = require('node:crypto');
const { openSync, readSync, closeSync } = require('node:fs');
const states = new Map();
const buf = Buffer.allocUnsafe(4 * 1024 * 1024);
function drop(key) {
  const s = states.get(key);
  if (s && s.fd !== undefined) closeSync(s.fd);
  states.delete(key);
}
parentPort.on('message', (m) => {
  if (m.op === 'drop') return drop(m.key);
  let s = states.get(m.key);
  if (!s) { s = { hash: createHash('md5'), fd: undefined, failed: false }; states.set(m.key, s); }
  if (m.op === 'hash') {
    if (s.failed) return;
    try {
      if (s.fd === undefined) s.fd = openSync(m.path, 'r');
      let done = 0;
      while (done < m.length) {
        const n = readSync(s.fd, buf, 0, Math.min(buf.length, m.length - done), m.offset + done);
        if (n === 0) throw new Error('short read');
        s.hash.update(buf.subarray(0, n));
        done += n;
      }
    } catch {
      s.failed = true;
    }
  } else if (m.op === 'digest') {
    const digest = s.failed ? null : s.hash.digest('hex');
    drop(m.key);
    parentPort.postMessage({ seq: m.seq, digest });
  }
});
`;

type Reply = { seq: number; digest: string | null };

let worker: Worker | undefined;
let seq = 0;
const waiting = new Map<number, (digest: string | null) => void>();

function get(): Worker {
  if (worker) return worker;
  const w = new Worker(CODE, { eval: true });
  w.on('message', (m: Reply) => {
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

let nextKey = 0;

/** A running MD5 over regions of one file, computed in the fold worker. */
export class WorkerFold {
  private readonly key = ++nextKey;
  private w: Worker | undefined;

  constructor(private readonly path: string) {}

  /** Adds bytes offset..offset+length-1 of the file (in call order). */
  add(offset: number, length: number): void {
    this.w ??= get();
    this.w.postMessage({ op: 'hash', key: this.key, path: this.path, offset, length });
  }

  /** The MD5 of everything added, or null if the worker could not read it (then hash yourself). */
  digest(): Promise<string | null> {
    const w = this.w ?? get();
    if (w !== worker) return Promise.resolve(null);
    const n = ++seq;
    return new Promise((resolve) => {
      waiting.set(n, resolve);
      // Someone waits for an answer: keep the process alive until it comes.
      w.ref();
      w.postMessage({ op: 'digest', key: this.key, seq: n });
    });
  }

  /** Forgets the running hash (and its descriptor). */
  drop(): void {
    this.w?.postMessage({ op: 'drop', key: this.key });
    this.w = undefined;
  }
}
