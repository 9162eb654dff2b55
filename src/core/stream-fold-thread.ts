/**
 * The stream fold's thread (started by stream-fold.ts): one running MD5 per fold (hash-wasm, so
 * its state can be saved into the upload's record), fed blocks of bytes in the order they are
 * sent. Blocks are shared memory: the answer that one is hashed lets the main thread fill it
 * again. Every request is handled in order, so a finish answers after every block sent
 * before it.
 */
import { parentPort } from 'node:worker_threads';
import { createMD5, type IHasher } from 'hash-wasm';

/** What the main thread sends. */
export type FoldThreadRequest =
  | { op: 'begin'; key: number; md5State: string | null }
  | { op: 'bytes'; key: number; block: SharedArrayBuffer; length: number }
  | { op: 'finish'; key: number }
  | { op: 'drop'; key: number };

/** What the thread answers. */
export type FoldThreadReply =
  | { op: 'hashed'; key: number }
  | { op: 'finished'; key: number; md5State: string; md5: string }
  | { op: 'failed'; key: number; message: string };

const port = parentPort;
if (!port) throw new Error('stream-fold-thread runs only as a worker thread');

const folds = new Map<number, IHasher | Error>();

async function handle(m: FoldThreadRequest): Promise<void> {
  if (m.op === 'begin') {
    try {
      const md5 = await createMD5();
      if (m.md5State) md5.load(Buffer.from(m.md5State, 'base64'));
      else md5.init();
      folds.set(m.key, md5);
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
  const reply: FoldThreadReply =
    fold === undefined || fold instanceof Error
      ? { op: 'failed', key: m.key, message: fold?.message ?? 'no such fold' }
      : {
          op: 'finished',
          key: m.key,
          md5State: Buffer.from(fold.save()).toString('base64'),
          md5: fold.digest('hex'),
        };
  port?.postMessage(reply);
}

// In order: a begin (which awaits the module's instantiation) finishes before the bytes after it.
let queue = Promise.resolve();
port.on('message', (m: FoldThreadRequest) => {
  queue = queue.then(() => handle(m));
});
