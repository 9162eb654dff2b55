/**
 * The fold worker's thread (started by fold-worker.ts): one running MD5 and SHA-256 per key (the
 * SHA-256 recorded for every published file is folded in the same read), fed regions of a
 * file in the order they are sent. Reads are synchronous: this thread has nothing else to do, and
 * the regions were just written (page cache). The file is opened per region and closed at once:
 * an idle upload holds no descriptor (one per partial upload ran a server out of them).
 */
import { createHash, type Hash } from 'node:crypto';
import { closeSync, openSync, readSync } from 'node:fs';
import { parentPort } from 'node:worker_threads';

/** What the main thread sends; every request is handled in order. */
export type FoldRequest =
  | { op: 'hash'; key: number; path: string; offset: number; length: number }
  | { op: 'digest'; key: number; seq: number }
  | { op: 'drop'; key: number };

/** The answer to a digest request: null if a region could not be read (the caller hashes itself). */
export interface FoldReply {
  seq: number;
  digest: { md5: string; sha256: string } | null;
}

interface Fold {
  hash: Hash;
  sha: Hash;
  failed: boolean;
}

const folds = new Map<number, Fold>();
/** One read buffer for every fold: requests are handled one at a time. */
const buf = Buffer.allocUnsafe(4 * 1024 * 1024);

function drop(key: number): void {
  folds.delete(key);
}

function foldIn(fold: Fold, path: string, offset: number, length: number): void {
  if (fold.failed) return;
  let fd: number | undefined;
  try {
    fd = openSync(path, 'r');
    let done = 0;
    while (done < length) {
      const n = readSync(fd, buf, 0, Math.min(buf.length, length - done), offset + done);
      if (n === 0) throw new Error('short read');
      fold.hash.update(buf.subarray(0, n));
      fold.sha.update(buf.subarray(0, n));
      done += n;
    }
  } catch {
    // The digest answers null and the main thread hashes the file itself.
    fold.failed = true;
  } finally {
    if (fd !== undefined) closeSync(fd);
  }
}

const port = parentPort;
if (!port) throw new Error('fold-thread runs only as a worker thread');
port.on('message', (m: FoldRequest) => {
  if (m.op === 'drop') return drop(m.key);
  let fold = folds.get(m.key);
  if (!fold) {
    fold = { hash: createHash('md5'), sha: createHash('sha256'), failed: false };
    folds.set(m.key, fold);
  }
  if (m.op === 'hash') return foldIn(fold, m.path, m.offset, m.length);
  const reply: FoldReply = {
    seq: m.seq,
    digest: fold.failed ? null : { md5: fold.hash.digest('hex'), sha256: fold.sha.digest('hex') },
  };
  drop(m.key);
  port.postMessage(reply);
});
