/**
 * One writer per stream upload in this process, with takeover: a PATCH that finds the upload
 * locked by a live, active request is refused at once (UPLOAD_BUSY, 409: the specs' conflict
 * answer), but a lock whose request is dead (its connection closed) or silent for longer than
 * `idleMs` (a half-open connection) is taken over: the old request is told to stop, commits what
 * it wrote, and lets go (tusd's cancellable lock). A lock always dies with its request.
 *
 * Across processes over one bucket the store's compare-and-swap on the record is the guard
 * (stream-store.ts): two appends racing from two processes both write their own bytes, only the
 * first commit counts, the second answers the conflict.
 */
import { TransferError } from '../protocol/errors.js';

/** What the lock knows of the request holding it (the HTTP adapter supplies it). */
export interface LockOwner {
  /** False once its connection is gone. */
  alive(): boolean;
  /** Milliseconds since its body last delivered bytes (or since it began). */
  idleMs(): number;
  /** Ends the request: its append stops and commits what arrived. */
  cancel(): void;
}

interface Held {
  owner: LockOwner;
  released: Promise<void>;
}

/** How long a takeover waits for the old holder to let go before it gives up (409). */
const TAKEOVER_WAIT_MS = 10_000;

export class StreamLocks {
  private readonly held = new Map<string, Held>();

  constructor(private readonly idleMs: number) {}

  /** Takes the upload's lock for `owner`; resolves with its release. UPLOAD_BUSY if it is in use. */
  async acquire(id: string, owner: LockOwner): Promise<() => void> {
    for (let attempt = 0; ; attempt++) {
      const current = this.held.get(id);
      if (!current) break;
      const stale = !current.owner.alive() || current.owner.idleMs() > this.idleMs;
      if (!stale || attempt > 0) throw new TransferError('UPLOAD_BUSY');
      current.owner.cancel();
      await waitAtMost(current.released, TAKEOVER_WAIT_MS);
    }
    let release!: () => void;
    const released = new Promise<void>((resolve) => {
      release = resolve;
    });
    const mine: Held = { owner, released };
    this.held.set(id, mine);
    return () => {
      if (this.held.get(id) === mine) this.held.delete(id);
      release();
    };
  }

  /**
   * Waits (a bounded time) for a lock held by a dead request to be let go, so that an offset read
   * after a client's abort sees what that request committed.
   */
  async settled(id: string): Promise<void> {
    const current = this.held.get(id);
    if (current && !current.owner.alive()) await waitAtMost(current.released, TAKEOVER_WAIT_MS);
  }

  isLocked(id: string): boolean {
    return this.held.has(id);
  }
}

function waitAtMost(p: Promise<void>, ms: number): Promise<void> {
  return new Promise<void>((resolve) => {
    const timer = setTimeout(resolve, ms);
    timer.unref();
    void p.then(() => {
      clearTimeout(timer);
      resolve();
    });
  });
}
