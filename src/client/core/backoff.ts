/** Retries with exponential backoff and jitter, for retryable TransferErrors only. */
import { TransferError } from '../../protocol/errors.js';
import type { RetryOptions } from './types.js';

export function abortError(): TransferError {
  return new TransferError('ABORTED');
}

export function sleep(ms: number, signal?: AbortSignal): Promise<void> {
  return new Promise((resolve, reject) => {
    if (signal?.aborted) {
      reject(abortError());
      return;
    }
    const onAbort = () => {
      clearTimeout(timer);
      reject(abortError());
    };
    const timer = setTimeout(() => {
      signal?.removeEventListener('abort', onAbort);
      resolve();
    }, ms);
    signal?.addEventListener('abort', onAbort, { once: true });
  });
}

export async function withRetry<T>(
  fn: (attempt: number) => Promise<T>,
  options: RetryOptions & { signal?: AbortSignal | undefined },
): Promise<T> {
  const retries = options.retries ?? 8;
  const min = options.minDelay ?? 300;
  const max = options.maxDelay ?? 10_000;
  for (let attempt = 0; ; attempt++) {
    try {
      return await fn(attempt);
    } catch (err: unknown) {
      if (options.signal?.aborted) throw abortError();
      // Only protocol errors are judged here; anything else (a control signal, a bug) passes.
      if (!(err instanceof TransferError)) throw err;
      const te = err;
      if (!te.retryable) throw te;
      if (attempt >= retries) {
        throw new TransferError('RETRIES_EXHAUSTED', `${te.message} (after ${retries + 1} attempts)`, {
          cause: te,
          status: te.status,
        });
      }
      const delay = Math.min(max, min * 2 ** attempt);
      await sleep(delay / 2 + Math.random() * (delay / 2), options.signal);
    }
  }
}
