/**
 * Retries with exponential backoff and jitter (or the caller's `retryDelays`), for the failures
 * that another attempt can fix: network errors and timeouts, 408, 429 and 5xx. A server's
 * Retry-After is honoured (up to MAX_RETRY_AFTER). `onShouldRetry` may overrule the judgement,
 * `onRetry` is told before each wait.
 */
import { TransferError } from '../../protocol/errors.js';
import type { RetryOptions } from './types.js';

/** A Retry-After longer than this is cut to it: a client waits minutes, not hours. */
export const MAX_RETRY_AFTER = 5 * 60_000;

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

/** `Retry-After` (seconds or an HTTP date) in seconds, or undefined when absent or unreadable. */
export function parseRetryAfter(value: string | null, now = Date.now()): number | undefined {
  if (value === null) return undefined;
  const text = value.trim();
  if (/^\d+$/.test(text)) return Number(text);
  const at = Date.parse(text);
  return Number.isNaN(at) ? undefined : Math.max(0, Math.ceil((at - now) / 1000));
}

/** How many retries the options allow. */
export function retryBudget(options: RetryOptions): number {
  if (options.retryDelays === null) return 0;
  return options.retryDelays ? options.retryDelays.length : (options.retries ?? 8);
}

/** The wait before retry number `attempt` (1 for the first), before any Retry-After. */
function backoff(options: RetryOptions, attempt: number): number {
  if (options.retryDelays) return Math.max(0, options.retryDelays[attempt - 1] ?? 0);
  const min = options.minDelay ?? 300;
  const max = options.maxDelay ?? 10_000;
  const delay = Math.min(max, min * 2 ** (attempt - 1));
  return delay / 2 + Math.random() * (delay / 2);
}

export async function withRetry<T>(
  fn: (attempt: number) => Promise<T>,
  options: RetryOptions & { signal?: AbortSignal | undefined },
): Promise<T> {
  const retries = retryBudget(options);
  for (let attempt = 0; ; attempt++) {
    try {
      return await fn(attempt);
    } catch (err: unknown) {
      if (options.signal?.aborted) throw abortError();
      // Only protocol errors are judged here; anything else (a control signal, a bug) passes.
      if (!(err instanceof TransferError)) throw err;
      const te = err;
      if (te.code === 'ABORTED') throw te;
      const next = attempt + 1;
      const worth = options.onShouldRetry ? options.onShouldRetry(te, next) : te.retryable;
      if (!worth) throw te;
      if (attempt >= retries) {
        if (retries === 0) throw te;
        throw new TransferError('RETRIES_EXHAUSTED', `${te.message} (after ${retries + 1} attempts)`, {
          cause: te,
          status: te.status,
        });
      }
      const asked = te.retryAfter === undefined ? 0 : Math.min(MAX_RETRY_AFTER, te.retryAfter * 1000);
      const delay = Math.max(backoff(options, next), asked);
      options.onRetry?.({ error: te, attempt: next, retries, delay });
      await sleep(delay, options.signal);
    }
  }
}
