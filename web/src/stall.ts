/**
 * Notices a transfer that stopped moving (the server died, the network went away): the client
 * retries quietly for a while, and meanwhile a row must not go on showing the last speed and time
 * left as if all were well. Two signals:
 *
 * - The server does not answer: after STALL_MIN_MS without progress the page asks it (the
 *   `probe`, GET /api/health) every PROBE_EVERY_MS; a network failure, a timeout or a 5xx makes
 *   the transfer stalled at once. So a dead server is noticed within seconds, even while an upload
 *   moves in steps of whole chunks that each take longer than that on a slow link.
 * - The transfer is slower than its own pace explains: no progress for three times the longest
 *   pause between two of its last few steps, at least STALL_MIN_MS and at most STALL_MAX_MS
 *   (before it has made two steps, STALL_MAX_MS). Only recent steps count, so one long stall does
 *   not blunt the watch for good.
 *
 * Progress clears both.
 */
export const STALL_MIN_MS = 4000;
export const STALL_MAX_MS = 30_000;
export const PROBE_EVERY_MS = 2000;
/** Steps whose pauses make the pace. */
const RECENT = 5;

/** Resolves true when the server answers (any status below 500), false otherwise. */
export type Probe = () => Promise<boolean>;

/** Asks the page's server whether it is there. */
export const healthProbe =
  (headers: () => Record<string, string>): Probe =>
  async () => {
    try {
      const res = await fetch('/api/health', {
        cache: 'no-store',
        headers: headers(),
        signal: AbortSignal.timeout(PROBE_EVERY_MS + 1000),
      });
      await res.body?.cancel();
      return res.status < 500;
    } catch {
      return false;
    }
  };

export class StallWatch {
  private lastDone = -1;
  private lastMove = 0;
  private gaps: number[] = [];
  private timer: ReturnType<typeof setInterval> | undefined;
  /** The last probe found no server (cleared by progress). */
  private unreachable = false;
  private probing = false;
  private lastProbe = Number.NEGATIVE_INFINITY;
  /** Bumped by start() and by progress: a probe's late answer about an older state is dropped. */
  private generation = 0;

  /** `tick` runs every second while watching (the row re-renders, so the wait it shows grows). */
  constructor(
    private readonly tick: () => void,
    private readonly probe?: Probe,
    private readonly now: () => number = () => performance.now(),
  ) {}

  /** A transfer starts (or starts again): nothing is known about its pace yet. */
  start(): void {
    this.stop();
    this.lastDone = -1;
    this.lastMove = this.now();
    this.gaps = [];
    this.unreachable = false;
    this.generation++;
    this.timer = setInterval(() => {
      void this.check();
      this.tick();
    }, 1000);
  }

  stop(): void {
    if (this.timer !== undefined) clearInterval(this.timer);
    this.timer = undefined;
  }

  /** Bytes done so far, from each progress report. */
  progress(done: number): void {
    if (done <= this.lastDone) return;
    const at = this.now();
    if (this.lastDone >= 0) this.gaps = [...this.gaps, at - this.lastMove].slice(-RECENT);
    this.lastDone = done;
    this.lastMove = at;
    this.unreachable = false;
    this.generation++;
  }

  /** Probes the server when the transfer has been still a while (run every second while watching). */
  async check(): Promise<void> {
    const at = this.now();
    if (!this.probe || this.probing || at - this.lastMove < STALL_MIN_MS) return;
    if (at - this.lastProbe < PROBE_EVERY_MS) return;
    this.probing = true;
    this.lastProbe = at;
    const generation = this.generation;
    try {
      const there = await this.probe();
      if (generation === this.generation) this.unreachable = !there;
    } finally {
      this.probing = false;
    }
    this.tick();
  }

  /** How long without progress it is allowed before it counts as stalled, going by its pace. */
  get threshold(): number {
    if (this.gaps.length === 0) return STALL_MAX_MS;
    return Math.min(STALL_MAX_MS, Math.max(STALL_MIN_MS, 3 * Math.max(...this.gaps)));
  }

  /** Milliseconds without progress when the transfer is stalled, else 0. */
  stalledFor(): number {
    const idle = this.now() - this.lastMove;
    const stalled = idle > this.threshold || (this.unreachable && idle >= STALL_MIN_MS);
    return stalled ? idle : 0;
  }
}
