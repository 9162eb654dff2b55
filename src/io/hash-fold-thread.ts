/**
 * A hash fold thread (started by hash-folds.ts, twice: one for the MD5s, one for the
 * SHA-256s): per fold, one running hash whose state can be saved — an MD5 (io/md5-state.ts) or,
 * where it can be continued, a SHA-256 (native/sha256.c) — fed blocks of bytes in the order they
 * are sent. Blocks are shared memory: the main thread fills one again once every thread of the
 * fold has said it is hashed. Every request is handled in order, so a finish answers after every
 * block sent before it.
 */
import { parentPort } from 'node:worker_threads';
import { addonState, type HashState } from './hash-state.js';
import { md5State } from './md5-state.js';
import { nativeSha256 } from './native-sha256.js';

export type FoldHash = 'md5' | 'sha256';

/** What the main thread sends. At begin, the saved state to continue (null: from the first byte). */
export type FoldThreadRequest =
  | { op: 'begin'; key: number; hash: FoldHash; state: string | null }
  | { op: 'bytes'; key: number; block: SharedArrayBuffer; length: number }
  | { op: 'finish'; key: number }
  | { op: 'drop'; key: number };

/** What the thread answers; a finish without `state` folded nothing (a SHA-256 it cannot continue). */
export type FoldThreadReply =
  | { op: 'hashed'; key: number }
  | { op: 'finished'; key: number; state?: string | undefined; digest?: string | undefined }
  | { op: 'failed'; key: number; message: string };

const port = parentPort;
if (!port) throw new Error('hash-fold-thread runs only as a worker thread');

/** Per fold: its hash, null when it folds none (a SHA-256 it cannot continue), or what failed. */
const folds = new Map<number, HashState | null | Error>();

/**
 * The SHA-256 to continue, or null: no addon here, or a state that does not load (written
 * elsewhere): the core then reads the bytes back for it.
 */
function shaOf(saved: Buffer | null): HashState | null {
  if (!nativeSha256) return null;
  try {
    return addonState(nativeSha256, nativeSha256.create(saved));
  } catch {
    return null;
  }
}

async function handle(m: FoldThreadRequest): Promise<void> {
  if (m.op === 'begin') {
    const saved = m.state === null ? null : Buffer.from(m.state, 'base64');
    try {
      folds.set(m.key, m.hash === 'md5' ? await md5State(saved) : shaOf(saved));
    } catch (err: unknown) {
      // An MD5 state that does not load (a record from elsewhere): the finish says so.
      folds.set(m.key, err instanceof Error ? err : new Error(String(err)));
    }
    return;
  }
  const fold = folds.get(m.key);
  if (m.op === 'bytes') {
    if (fold && !(fold instanceof Error)) {
      try {
        fold.update(new Uint8Array(m.block, 0, m.length));
      } catch (err: unknown) {
        folds.set(m.key, err instanceof Error ? err : new Error(String(err)));
      }
    }
    const reply: FoldThreadReply = { op: 'hashed', key: m.key };
    port?.postMessage(reply);
    return;
  }
  folds.delete(m.key);
  if (m.op === 'drop') return;
  let reply: FoldThreadReply;
  if (fold === undefined || fold instanceof Error) {
    reply = { op: 'failed', key: m.key, message: fold?.message ?? 'no such fold' };
  } else if (fold === null) {
    reply = { op: 'finished', key: m.key };
  } else {
    reply = {
      op: 'finished',
      key: m.key,
      state: Buffer.from(fold.save()).toString('base64'),
      digest: fold.hex(),
    };
  }
  port?.postMessage(reply);
}

// In order: a begin (which awaits the module's instantiation) finishes before the bytes after it.
let queue = Promise.resolve();
port.on('message', (m: FoldThreadRequest) => {
  queue = queue.then(() => handle(m));
});
