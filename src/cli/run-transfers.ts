/** Shared by `upload` and `download`: Ctrl-C, exit codes, one clear error line per failure. */
import { redactUserinfo } from '../client/core/http.js';
import { TransferError } from '../protocol/errors.js';

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

/** Runs the transfers one after another; Ctrl-C aborts cleanly (exit 130), twice exits at once. */
export async function runTransfers<T>(
  items: string[],
  run: (item: string, signal: AbortSignal) => Promise<T>,
  onDone: (item: string, result: T) => void,
  onError: (item: string, err: unknown) => void,
  stop: () => void,
): Promise<number> {
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
  try {
    for (const item of items) {
      if (ctl.signal.aborted) break;
      try {
        onDone(item, await run(item, ctl.signal));
      } catch (err: unknown) {
        if (ctl.signal.aborted) break;
        onError(item, err);
        // A credentials failure says more than a plain failure, whichever item had it.
        if (code === EXIT.ok || code === EXIT.failed) code = exitCodeFor(err);
      }
    }
  } finally {
    stop();
    process.off('SIGINT', onSigint);
    process.off('SIGTERM', onSigint);
  }
  if (ctl.signal.aborted) {
    process.stderr.write('interrupted: run the same command again to resume\n');
    return EXIT.interrupted;
  }
  return code;
}
