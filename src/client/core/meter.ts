/** Speed and ETA over a sliding window of recent samples. */
export class Meter {
  private samples: { t: number; bytes: number }[] = [];

  constructor(private readonly windowMs = 3000) {}

  /** Records the running total; returns bytes per second. */
  sample(bytes: number, now = Date.now()): number {
    this.samples.push({ t: now, bytes });
    while (this.samples.length > 2 && now - this.samples[0]!.t > this.windowMs) this.samples.shift();
    const first = this.samples[0]!;
    const dt = (now - first.t) / 1000;
    return dt > 0 ? Math.max(0, (bytes - first.bytes) / dt) : 0;
  }

  static eta(done: number, total: number, speed: number): number | null {
    return speed > 0 ? Math.max(0, (total - done) / speed) : null;
  }
}

/** Calls `fn` at most every `ms` (and always when forced). */
export function throttle(ms: number): (force?: boolean) => boolean {
  let last = 0;
  return (force = false) => {
    const now = Date.now();
    if (!force && now - last < ms) return false;
    last = now;
    return true;
  };
}
