/**
 * A stream fold thread (started by stream-fold.ts, twice: one for the MD5s, one for the
 * SHA-256s): per fold, a running MD5 (io/md5-state.ts) and/or, where it can be continued, a
 * running SHA-256 (native/sha256.c), as the fold's begin asks; their states are saved into the
 * upload's record. Fed blocks of bytes in the order they are sent. Blocks are shared memory: the
 * answer that one is hashed lets the main thread fill it again once every thread that hashes it
 * has answered. Every request is handled in order, so a finish answers after every block sent
 * before it.
 */
import { parentPort } from 'node:worker_threads';
import type { HashState } from '../io/hash-state.js';
import { md5State } from '../io/md5-state.js';
import { nativeSha256 } from '../io/native-sha256.js';

/**
 * What the main thread sends. At begin, each state is the one to continue (null: from the first
 * byte), or undefined when this thread folds none: for `sha256State`, also when the bytes before
 * were not folded into one (no SHA-256 then).
 */
export type FoldThreadRequest =
  | { op: 'begin'; key: number; md5State: string | null | undefined; sha256State: string | null | undefined }
  | { op: 'bytes'; key: number; block: SharedArrayBuffer; length: number }
  | { op: 'finish'; key: number }
  | { op: 'drop'; key: number };

/** What the thread answers; a finish without `md5` or `sha256` folded none of it. */
export type FoldThreadReply =
  | { op: 'hashed'; key: number }
  | {
      op: 'finished';
      key: number;
      md5State?: string | undefined;
      md5?: string | undefined;
      sha256State?: string | undefined;
      sha256?: string | undefined;
    }
  | { op: 'failed'; key: number; message: string };

const port = parentPort;
if (!port) throw new Error('stream-fold-thread runs only as a worker thread');

interface ThreadFold {
  /** The MD5 state, or null when this thread folds none for this fold. */
  md5: HashState | null;
  /** The SHA-256 state (native/sha256.c), or null when this fold has none. */
  sha: Buffer | null;
}

const folds = new Map<number, ThreadFold | Error>();

/**
 * The SHA-256 to continue, or null: none before (the record did not fold one), no addon here, or
 * a state that does not load (written elsewhere): the core then reads the bytes back for it.
 */
function shaOf(state: string | null | undefined): Buffer | null {
  if (state === undefined || !nativeSha256) return null;
  try {
    return nativeSha256.create(state === null ? null : Buffer.from(state, 'base64'));
  } catch {
    return null;
  }
}

async function handle(m: FoldThreadRequest): Promise<void> {
  if (m.op === 'begin') {
    try {
      const md5 =
        m.md5State === undefined
          ? null
          : await md5State(m.md5State ? Buffer.from(m.md5State, 'base64') : null);
      folds.set(m.key, { md5, sha: shaOf(m.sha256State) });
    } catch (err: unknown) {
      // A state that does not load (a record from elsewhere): the finish says so.
      folds.set(m.key, err instanceof Error ? err : new Error(String(err)));
    }
    return;
  }
  const fold = folds.get(m.key);
  if (m.op === 'bytes') {
    if (fold && !(fold instanceof Error)) {
      try {
        const bytes = new Uint8Array(m.block, 0, m.length);
        fold.md5?.update(bytes);
        if (fold.sha) nativeSha256?.update(fold.sha, bytes);
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
  } else {
    reply = { op: 'finished', key: m.key };
    if (fold.md5) {
      reply.md5State = Buffer.from(fold.md5.save()).toString('base64');
      reply.md5 = fold.md5.hex();
    }
    if (fold.sha && nativeSha256) {
      reply.sha256State = nativeSha256.save(fold.sha).toString('base64');
      reply.sha256 = nativeSha256.digest(fold.sha).toString('hex');
    }
  }
  port?.postMessage(reply);
}

// In order: a begin (which awaits the module's instantiation) finishes before the bytes after it.
let queue = Promise.resolve();
port.on('message', (m: FoldThreadRequest) => {
  queue = queue.then(() => handle(m));
});
