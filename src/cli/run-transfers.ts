/** Shared by `upload` and `download`: Ctrl-C, exit codes, one clear error line per failure. */
import { redactUserinfo } from '../client/core/http.js';
import { TransferError } from '../protocol/errors.js';
import type { Reporter, Tracker } from './progress.js';

/**
 * Exit codes (documented in the README): 3 and 4 say the credentials were missing or not valid
 * (401) or did not allow the transfer (403), which trying again will not change.
 */
export const EXIT = { ok: 0, failed: 1, usage: 2, unauthorized: 3, forbidden: 4, interrupted: 130 } as const;

/** The exit code a failure calls for. */
export function exitCodeFor(err: unknown): number {
  if (err instanceof TransferError && err.code === 'UNAUTHORIZED') return EXIT.unauthorized;
  if (err instanceof TransferError && err.code === 'FORBIDDEN') return EXIT.forbidden;
  return EXIT.failed;
}

/** One line per failure; a password in a URL never shows. */
export function errorLine(err: unknown): string {
  if (err instanceof TransferError)
    return redactUserinfo(`${err.message} (${err.code}${err.status ? `, HTTP ${err.status}` : ''})`);
  return redactUserinfo(err instanceof Error ? err.message : String(err));
}

export interface Transfers<T> {
  /** At most this many at once (-j/--jobs). */
  jobs: number;
  reporter: Reporter;
  /** The short name shown beside a transfer's progress. */
  label(item: string): string;
  run(item: string, signal: AbortSignal, tracker: Tracker): Promise<T>;
  /** Prints the result on stdout; returns a note for the transfer's last progress line. */
  onDone(item: string, result: T): string | undefined;
}

/**
 * Runs the transfers, `jobs` at once (in the order given; results are printed as each ends).
 * Ctrl-C aborts cleanly (exit 130), twice exits at once.
 */
export async function runTransfers<T>(items: string[], t: Transfers<T>): Promise<number> {
  const ctl = new AbortController();
  let interrupts = 0;
  const onSigint = () => {
    interrupts++;
    if (interrupts > 1) process.exit(EXIT.interrupted);
    ctl.abort();
  };
  process.on('SIGINT', onSigint);
  process.on('SIGTERM', onSigint);
  let code: number = EXIT.ok;
  let next = 0;
  const worker = async () => {
    for (let i = next++; i < items.length && !ctl.signal.aborted; i = next++) {
      const item = items[i]!;
      const tracker = t.reporter.start(t.label(item), item);
      try {
        const result = await t.run(item, ctl.signal, tracker);
        tracker.end({ ok: true, note: t.onDone(item, result) });
      } catch (err: unknown) {
        if (ctl.signal.aborted) {
          // Said once for all below.
          tracker.end({ ok: false, line: '', error: err });
          break;
        }
        tracker.end({ ok: false, line: `resumable: ${redactUserinfo(item)}: ${errorLine(err)}`, error: err });
        // A credentials failure says more than a plain failure, whichever item had it.
        if (code === EXIT.ok || code === EXIT.failed) code = exitCodeFor(err);
      }
    }
  };
  try {
    await Promise.all(Array.from({ length: Math.max(1, Math.min(t.jobs, items.length)) }, worker));
  } finally {
    t.reporter.stop();
    process.off('SIGINT', onSigint);
    process.off('SIGTERM', onSigint);
  }
  if (ctl.signal.aborted) {
    process.stderr.write('interrupted: run the same command again to resume\n');
    return EXIT.interrupted;
  }
  return code;
}
