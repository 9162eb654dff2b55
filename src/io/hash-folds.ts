/**
 * Hashes folded on two worker threads (hash-fold-thread.ts) while the bytes arrive, in order, so
 * the event loop only receives and writes:
 * - a stream upload's whole-file MD5 (the file's identity, its published name) and its SHA-256
 *   (core/stream-append.ts): hashing on the loop serialized a PATCH's receiving and writing behind
 *   it (hash-wasm's MD5 was the loop's largest cost: 3.8 of 10.7 busy seconds for 1 GiB);
 * - each chunk's MD5 as the local disk stages it (storage/local-disk/in-place-chunks.ts,
 *   plain-chunks.ts), which the loop used to compute: 1 GiB uploaded by our CLI in 8 MiB chunks
 *   while a 1 GiB download, latency probes and the bench's attack mix ran beside it (`npm run
 *   bench -- --only 'under attack' --size 1GiB --runs 2`, 2 cores, the two in turns): upload
 *   22.8 → 18.0 s under attack (12.2 → 11.1 without), legitimate handshake p99 246 → 199 ms,
 *   1 MB range p99 111 → 78 ms (an earlier pair on a quieter machine: 18.5 → 12.1 s, 268 → 132).
 *   The loop was the one busy thread of an upload; now the MD5 runs beside it. (The threads at a
 *   lower priority, nice 5, made every figure worse: the upload waits for them.)
 *
 * - The MD5 is one whose state can be saved (io/md5-state.ts: OpenSSL's through native/md5.c, in
 *   hash-wasm's saved form, or hash-wasm's): it is stored in the upload's record after
 *   every append, so a restarted process, or another process over the same bucket, continues the
 *   fold where the last append left it, and neither digest of a finished upload needs a
 *   second read of its bytes.
 * - Bytes reach the threads in blocks of shared memory (1 MiB): the loop copies what it receives
 *   into a block and posts it to the fold's threads when it is full; once every one of them says
 *   it is hashed, the block is filled again. At most 4 blocks per fold, and 16 of all folds, wait
 *   for the threads: past that, update() answers a promise, and the append waits for it before
 *   taking more of the body (the threads bound the pace, never the memory). Blocks number 16 in
 *   all, however many folds are fed at once (MAX_BLOCKS): 16 MiB.
 * - A thread that fails (it should not) fails the folds it held: their appends and chunks answer
 *   500 and count nothing, the client sends them again, and the next fold starts a new thread.
 *
 * The SHA-256 every published file records (links under instant upload 'proof'/'off', the
 * collision rule of core/stream-complete.ts) is folded from the same blocks, by the OpenSSL inside Node
 * (native/sha256.c), and saved beside the MD5 state, so completion reads nothing back.
 * hash-wasm's SHA-256 can be saved too, but hashed 50 MiB/s where OpenSSL's hashed 515–655.
 * Measured on the bench machine (2 cores, loaded by other work), one thread hashing 1 MiB
 * blocks: MD5 alone 173–205 MiB/s, MD5 and SHA-256 in one pass 130–148 MiB/s (hash-wasm's MD5 and
 * SHA-256, in a run where its MD5 alone hashed 117–139: 31–39 MiB/s). Why the two run on threads
 * of their own: see md5Thread below. Where the fold cannot cover every byte (no addon built, a
 * record written before SHA-256 states were saved, a state that does not load), the fold has no
 * SHA-256 and completion reads the bytes back once for it (as it did for every upload before).
 */
import type { Worker } from 'node:worker_threads';
import type { FoldHash, FoldThreadReply, FoldThreadRequest } from './hash-fold-thread.js';
import { nativeSha256 } from './native-sha256.js';
import { startThread, threadModule } from './threads.js';

export interface FoldResult {
  /** The MD5 state after every byte so far (base64), to store in the record. */
  md5State: string;
  /** The MD5 of every byte so far. */
  md5: string;
  /** The SHA-256 state after every byte so far (base64); undefined when none was folded. */
  sha256State: string | undefined;
  /** The SHA-256 of every byte so far; undefined when none was folded. */
  sha256: string | undefined;
}

/** One append's fold: fed every byte of the append in order, then finished or dropped. */
export interface Fold {
  /**
   * Feeds bytes; a promise when the thread is behind or no block is free: wait for it before
   * feeding more, and leave `buf` as it is until then (its bytes may be copied only then).
   */
  update(buf: Buffer): undefined | Promise<void>;
  /** The MD5 after every byte fed (the fold is over then). */
  finish(): Promise<FoldResult>;
  /** Ends a fold that will not be finished (the append failed). */
  drop(): void;
}

const THREAD = threadModule(import.meta.url, 'hash-fold-thread');
const BLOCK = 1024 * 1024;
/** Blocks a fold may have waiting for its threads before update() asks the append to wait. */
const MAX_QUEUED = 4;
/** Blocks of all folds waiting for the threads past which a fold with one waiting waits too. */
const MAX_QUEUED_ALL = 16;
let queuedAll = 0;
/**
 * Blocks in existence, in all: being filled by a fold, waiting for the threads, or spare. Each fold
 * being fed holds one block it fills, so without a bound every chunk or append in flight held
 * 1 MiB, whatever its pace (a client dripping bodies on hundreds of connections). At the bound, a
 * fold short of a block has the partly filled blocks of the others posted as they are (a block
 * may be partial), and waits for the threads to give one back.
 */
const MAX_BLOCKS = 16;
let blocks = 0;

/**
 * Blocks are SharedArrayBuffers: posting one shares it (transferring 1 MiB ArrayBuffers cost
 * ~0.2 ms a message each way, 0.9 s per GiB between the two threads). A hashed block is always
 * kept for reuse, never let go: a thread holds on to every block it was sent until its own
 * garbage collection, which an isolate that allocates this little runs rarely. Blocks let go for
 * new ones (the spare list was capped at 16) made the server's RSS grow with the chunks in
 * flight: 32 chunks at once, 245–261 MB, against 168–186 with the MD5 on the loop.
 */
const spare: SharedArrayBuffer[] = [];
/** Folds holding a partly filled block (which a fold short of a block asks them to post). */
const holding = new Set<ThreadFold>();
/** Folds waiting for a block, first come first served. */
const short: (() => void)[] = [];

function takeBlock(): SharedArrayBuffer | undefined {
  const block = spare.pop();
  if (block) return block;
  if (blocks >= MAX_BLOCKS) return undefined;
  blocks++;
  return new SharedArrayBuffer(BLOCK);
}

function giveBack(block: SharedArrayBuffer): void {
  spare.push(block);
  short.shift()?.();
}

/** Blocks that will not come back (their thread stopped, their fold went): room for new ones. */
function lose(count: number): void {
  blocks -= count;
  for (let i = 0; i < count; i++) short.shift()?.();
}

/** One of the process's two fold threads: started at its first fold, again after a failure. */
class FoldThread {
  private worker: Worker | undefined;
  private readonly folds = new Map<number, ThreadFold>();

  /** Begins `fold` on this thread: its `hash`, continuing `state` (null: from the first byte). */
  begin(fold: ThreadFold, hash: FoldHash, state: string | null): Worker {
    const w = this.get();
    this.folds.set(fold.key, fold);
    // Someone waits for the thread: the process stays alive until the fold ends.
    w.ref();
    this.send(w, { op: 'begin', key: fold.key, hash, state });
    return w;
  }

  send(w: Worker, m: FoldThreadRequest): void {
    if (w === this.worker) w.postMessage(m);
  }

  /** The thread, if it runs. */
  running(): Worker | undefined {
    return this.worker;
  }

  ended(fold: ThreadFold): void {
    if (!this.folds.delete(fold.key)) return;
    if (this.folds.size === 0) this.worker?.unref();
  }

  private get(): Worker {
    if (this.worker) return this.worker;
    const w = startThread(THREAD);
    w.on('message', (m: FoldThreadReply) => {
      this.folds.get(m.key)?.answer(this, m);
    });
    const fail = (err: unknown) => {
      if (this.worker !== w) return;
      this.worker = undefined;
      const error = new Error('the stream fold thread stopped', { cause: err });
      const folds = [...this.folds.values()];
      this.folds.clear();
      for (const fold of folds) fold.fail(error);
    };
    w.on('error', fail);
    w.on('exit', (code) => fail(new Error(`exit code ${code}`)));
    // After the listeners (adding one refs the worker again): an idle thread keeps no process alive.
    w.unref();
    this.worker = w;
    return w;
  }
}

/**
 * The MD5s are folded on one thread, the SHA-256s on another, side by side. On one thread, one
 * after the other, the two set the pace of a tus/IETF append: in a profile of a 1 GiB tus upload
 * that thread was busy 4.9 s (3.4 s of it the MD5), the event loop sat idle two thirds of the
 * time, and the append waited for the thread. What the fold alone takes, 512 MiB fed in 64 KiB
 * pieces as fast as it asks (2 cores, Intel Xeon, nothing else running): one thread 292–308
 * MiB/s, two threads 421–436 MiB/s, the same CPU time. In the tus bench on the same 2 cores,
 * shared with the client, the time did not change: that run uses every core already (vmstat:
 * 7–11% idle), so there it is the CPU, not the fold's pace, that bounds it.
 */
const md5Thread = new FoldThread();
const shaThread = new FoldThread();

/** A fold's part on one thread. */
interface Lane {
  worker: Worker;
  /** Of the blocks in `sent`, how many this thread has hashed (it answers in order: the first). */
  hashed: number;
  /** Its finish answer, once there. */
  finished?: { state?: string | undefined; digest?: string | undefined };
}

class ThreadFold implements Fold {
  private block: Buffer | null = null;
  /** Blocks posted, in order, until every thread of the fold has hashed them. */
  private readonly sent: SharedArrayBuffer[] = [];
  /** The MD5 thread's lane, and the SHA-256 thread's when the fold has one. */
  private readonly lanes = new Map<FoldThread, Lane>();
  private filled = 0;
  private wake: (() => void) | null = null;
  private result: { resolve(r: FoldResult): void; reject(err: Error): void } | null = null;
  private failed: Error | null = null;
  private over = false;

  constructor(
    readonly key: number,
    md5State: string | null,
    sha256State: string | null | undefined,
  ) {
    this.lanes.set(md5Thread, { worker: md5Thread.begin(this, 'md5', md5State), hashed: 0 });
    // No SHA-256 to fold (the bytes before were not folded into one, or no addon): one thread.
    if (sha256State !== undefined && nativeSha256) {
      try {
        this.lanes.set(shaThread, { worker: shaThread.begin(this, 'sha256', sha256State), hashed: 0 });
      } catch (err: unknown) {
        // The second thread cannot start: the first lets this fold go (or it would stay ref'd).
        this.drop();
        throw err;
      }
    }
  }

  update(buf: Buffer): undefined | Promise<void> {
    if (this.over || this.failed) return undefined;
    for (let at = 0; at < buf.length; ) {
      if (!this.block) {
        const block = takeBlock();
        if (!block) return this.waitForBlock(buf.subarray(at));
        this.block = Buffer.from(block);
      }
      const n = buf.copy(this.block, this.filled, at);
      at += n;
      this.filled += n;
      if (this.filled === BLOCK) this.post();
    }
    // A fold waits for a block: none is kept partly filled (it would never come back).
    if (this.block && short.length > 0) this.post();
    else if (this.block) holding.add(this);
    if (!this.behind()) return undefined;
    return new Promise<void>((resolve) => {
      this.wake = resolve;
    });
  }

  /** Every block is in use: the partly filled ones of the others go to the threads as they are. */
  private async waitForBlock(rest: Buffer): Promise<void> {
    for (const fold of holding) if (fold !== this) fold.post();
    await new Promise<void>((resolve) => short.push(resolve));
    await this.update(rest);
  }

  finish(): Promise<FoldResult> {
    if (this.failed) return Promise.reject(this.failed);
    if (this.over) return Promise.reject(new Error('the fold is over'));
    if (this.filled > 0) this.post();
    this.putBack();
    this.over = true;
    return new Promise<FoldResult>((resolve, reject) => {
      this.result = { resolve, reject };
      this.sendAll({ op: 'finish', key: this.key });
    });
  }

  drop(): void {
    if (this.over) return;
    this.over = true;
    this.stop();
  }

  /** A reply of `thread` about this fold. */
  answer(thread: FoldThread, m: FoldThreadReply): void {
    const lane = this.lanes.get(thread);
    if (!lane) return;
    if (m.op === 'hashed') {
      lane.hashed++;
      this.free();
      if (!this.behind()) this.release();
      return;
    }
    thread.ended(this);
    if (m.op === 'failed') {
      this.fail(new Error(`stream fold: ${m.message}`));
      return;
    }
    lane.finished = m;
    const md5 = this.lanes.get(md5Thread)?.finished;
    const sha = this.lanes.get(shaThread);
    if (!md5 || (sha && !sha.finished)) return;
    if (md5.state === undefined || md5.digest === undefined)
      this.result?.reject(new Error('stream fold: no MD5'));
    else {
      this.result?.resolve({
        md5State: md5.state,
        md5: md5.digest,
        sha256State: sha?.finished?.state,
        sha256: sha?.finished?.digest,
      });
    }
    this.result = null;
  }

  /** A thread stopped, or failed this fold: the append ends with this error. */
  fail(err: Error): void {
    if (this.failed) return;
    this.failed = err;
    this.stop();
    this.result?.reject(err);
    this.result = null;
  }

  private post(): void {
    const block = this.block;
    if (!block) return;
    const shared = block.buffer as SharedArrayBuffer;
    this.sendAll({ op: 'bytes', key: this.key, block: shared, length: this.filled });
    this.sent.push(shared);
    queuedAll++;
    this.block = null;
    this.filled = 0;
    holding.delete(this);
  }

  /**
   * Ends the fold on its threads (dropped, or failed: the other thread's part is of no use then)
   * and lets go of its blocks; an append waiting to feed more goes on and finds the fold over.
   */
  private stop(): void {
    this.putBack();
    this.forget();
    this.sendAll({ op: 'drop', key: this.key });
    this.endAll();
    this.release();
  }

  /** The block being filled, never posted, is spare again (a fold that ends or fails). */
  private putBack(): void {
    holding.delete(this);
    const block = this.block;
    this.block = null;
    this.filled = 0;
    if (block) giveBack(block.buffer as SharedArrayBuffer);
  }

  /** Frees the blocks at the head of `sent` that every thread has hashed. */
  private free(): void {
    while (this.sent.length > 0 && this.everyLaneHashedOne()) {
      const block = this.sent.shift() as SharedArrayBuffer;
      queuedAll--;
      giveBack(block);
      for (const lane of this.lanes.values()) lane.hashed--;
    }
  }

  private everyLaneHashedOne(): boolean {
    for (const lane of this.lanes.values()) if (lane.hashed === 0) return false;
    return true;
  }

  /**
   * Its blocks still waiting are no longer counted (nor reused: a thread may still read them);
   * answers about them go nowhere.
   */
  private forget(): void {
    queuedAll -= this.sent.length;
    lose(this.sent.length);
    this.sent.length = 0;
    for (const lane of this.lanes.values()) lane.hashed = 0;
  }

  private sendAll(m: FoldThreadRequest): void {
    for (const [thread, lane] of this.lanes) thread.send(lane.worker, m);
  }

  private endAll(): void {
    for (const thread of this.lanes.keys()) thread.ended(this);
  }

  /**
   * Whether to wait before taking more bytes: this fold has MAX_QUEUED blocks waiting, or the
   * process has MAX_QUEUED_ALL and this fold one or more (it is woken when that one is hashed).
   */
  private behind(): boolean {
    const mine = this.sent.length;
    return mine >= MAX_QUEUED || (mine > 0 && queuedAll >= MAX_QUEUED_ALL);
  }

  private release(): void {
    const wake = this.wake;
    this.wake = null;
    wake?.();
  }
}

let nextKey = 0;

export class HashFolds {
  /**
   * A fold continuing the upload's states: null, nothing folded yet; a SHA-256 state undefined,
   * the bytes before were not folded into one (this fold folds none either).
   */
  begin(md5State: string | null, sha256State: string | null | undefined): Fold {
    return new ThreadFold(++nextKey, md5State, sha256State);
  }
}

/** Shared blocks in existence (the tests check the bound). */
export function hashBlocks(): number {
  return blocks;
}

/** The hash threads running now (the tests stop one mid-fold). */
export function runningHashThreads(): Worker[] {
  return [md5Thread.running(), shaThread.running()].filter((w): w is Worker => w !== undefined);
}

/** A fresh MD5 alone (a chunk's), folded on the MD5 thread. */
export function md5Fold(): Fold {
  return new ThreadFold(++nextKey, null, undefined);
}
