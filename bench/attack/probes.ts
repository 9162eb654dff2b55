/**
 * The legitimate client's latency probes: a request started every `every` ms whether or not the
 * ones before have answered (so a stalled server shows in the figures instead of slowing the probe
 * down), each with a deadline. A failed or late probe counts as the deadline in the percentiles.
 */
import { randomBytes } from 'node:crypto';
import { Agent, request } from 'node:http';
import { setTimeout as sleep } from 'node:timers/promises';

export interface Probed {
  /** Milliseconds per probe, failures counted as the deadline. */
  latencies: number[];
  failed: number;
  /** The first failure's reason, to name in the report. */
  firstFailure?: string;
}

/** Nearest-rank percentile (p in 0–100). */
export function percentile(values: number[], p: number): number {
  const s = [...values].sort((a, b) => a - b);
  return s[Math.max(0, Math.ceil((p / 100) * s.length) - 1)] ?? Number.NaN;
}

/** Starts probing; `stop()` ends the schedule, waits for the probes in flight and returns the figures. */
export function startProbe(every: number, deadlineMs: number, fn: (signal: AbortSignal) => Promise<void>) {
  const result: Probed = { latencies: [], failed: 0 };
  const running = new Set<Promise<void>>();
  const timer = setInterval(() => {
    const t = performance.now();
    // The signal aborts the request; the race is a backstop so that no probe can hang the bench.
    const backstop = sleep(deadlineMs + 1000, undefined, { ref: false }).then(() => {
      throw new Error('no answer and no abort');
    });
    const p = Promise.race([fn(AbortSignal.timeout(deadlineMs)), backstop]).then(
      () => {
        result.latencies.push(Math.min(deadlineMs, performance.now() - t));
      },
      (err: unknown) => {
        result.failed++;
        result.firstFailure ??= (err as Error).message;
        result.latencies.push(deadlineMs);
      },
    );
    running.add(p);
    void p.finally(() => running.delete(p));
  }, every);
  return {
    async stop(): Promise<Probed> {
      clearInterval(timer);
      await Promise.all(running);
      return result;
    },
  };
}

/** One GET or POST on a keep-alive agent; rejects unless the status is `want` (and the length, if given). */
function call(
  agent: Agent,
  url: string,
  init: { method: string; headers: Record<string, string>; body?: string; localAddress?: string },
  want: number,
  signal: AbortSignal,
  length?: number,
): Promise<void> {
  return new Promise((resolve, reject) => {
    const options = {
      method: init.method,
      headers: init.headers,
      agent,
      signal,
      localAddress: init.localAddress,
    };
    const req = request(url, options, (res) => {
      let got = 0;
      res.on('data', (d: Buffer) => {
        got += d.length;
      });
      res.on('end', () => {
        if (res.statusCode !== want) reject(new Error(`HTTP ${res.statusCode}`));
        else if (length !== undefined && got !== length) reject(new Error(`${got} bytes of ${length}`));
        else resolve();
      });
      res.on('error', reject);
      // Cut or aborted before its end (a no-op once settled).
      res.on('close', () => reject(new Error('answer cut short')));
    });
    req.on('error', (err: NodeJS.ErrnoException) => reject(new Error(err.code ?? err.message)));
    req.end(init.body);
  });
}

/** A small new plan (4 chunks, a fresh fileId) — what a legitimate upload starts with. */
export function handshakeProbe(base: string) {
  const agent = new Agent({ keepAlive: true, maxSockets: 16 });
  let user = 0;
  return (signal: AbortSignal) => {
    const ids = Array.from({ length: 4 }, (_, i) => `${randomBytes(16).toString('hex')}${i}`);
    const body = JSON.stringify({ fileId: randomBytes(16).toString('hex'), ext: '.bin', chunkIds: ids });
    // Each probe is one of 250 legitimate users (127.0.1.x; the attackers leave from 127.0.0.2):
    // from one address, 20 new uploads a second met that one client's cap of open uploads (100)
    // within 5 s, and the probe measured its own refusals.
    const localAddress = `127.0.1.${1 + (user++ % 250)}`;
    return call(
      agent,
      `${base}/api/upload/handshake`,
      { method: 'POST', headers: { 'content-type': 'application/json' }, body, localAddress },
      200,
      signal,
    );
  };
}

/** `bytes` from a random offset of a library file — what a resuming or segmented download asks. */
export function rangeProbe(url: string, fileSize: number, bytes: number) {
  const agent = new Agent({ keepAlive: true, maxSockets: 16 });
  return (signal: AbortSignal) => {
    const start = Math.floor(Math.random() * (fileSize - bytes));
    return call(
      agent,
      url,
      { method: 'GET', headers: { range: `bytes=${start}-${start + bytes - 1}` } },
      206,
      signal,
      bytes,
    );
  };
}
