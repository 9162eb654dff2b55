/** fetch with the protocol's error mapping: envelopes → TransferError, failures → NETWORK. */
import { type Envelope, errorFromEnvelope } from '../../protocol/envelope.js';
import { TransferError } from '../../protocol/errors.js';
import { abortError } from './backoff.js';
import type { CredentialOptions, OutgoingRequest } from './types.js';

/** A URL's password (and user) as shown in messages: `https://user:***@host/`. */
export function redactUserinfo(text: string): string {
  return text.replace(
    /\b([a-z][a-z0-9+.-]*:\/\/)([^/?#@\s:]*)(?::[^/?#@\s]*)?@/gi,
    (_m, scheme: string, user: string) => `${scheme}${user ? `${user}:***` : '***'}@`,
  );
}

/**
 * The transport with the transfer's credentials: `headers` on every request (a request's own
 * headers, such as Range, win), then `onBeforeRequest`, and `onAfterResponse` on each answer.
 */
export function withCredentials(fetchImpl: typeof fetch, options: CredentialOptions): typeof fetch {
  const { headers, onBeforeRequest, onAfterResponse } = options;
  if (!headers && !onBeforeRequest && !onAfterResponse) return fetchImpl;
  return (async (input: string | URL | Request, init: RequestInit = {}) => {
    const merged = new Headers(headers);
    new Headers(init.headers).forEach((value, name) => {
      merged.set(name, value);
    });
    const req: OutgoingRequest = {
      url: input instanceof Request ? input.url : String(input),
      method: init.method ?? 'GET',
      headers: merged,
    };
    await onBeforeRequest?.(req);
    const res = await fetchImpl(req.url, { ...init, headers: req.headers });
    await onAfterResponse?.(req, res);
    return res;
  }) as typeof fetch;
}

export async function send(
  fetchImpl: typeof fetch,
  url: string,
  init: RequestInit,
  signal: AbortSignal | undefined,
): Promise<Response> {
  if (signal?.aborted) throw abortError();
  try {
    // no-store: a browser must not answer a ranged resume from its HTTP cache (a cached 200 of
    // the thumbnail, say), and no API answer may be cached.
    return await fetchImpl(url, { cache: 'no-store', ...init, signal: signal ?? null });
  } catch (err: unknown) {
    if (signal?.aborted) throw abortError();
    throw new TransferError('NETWORK', `Cannot reach ${new URL(url).origin}: ${errorText(err)}`, {
      cause: err,
    });
  }
}

function errorText(err: unknown): string {
  const cause = err instanceof Error && err.cause instanceof Error ? `: ${err.cause.message}` : '';
  return err instanceof Error ? `${err.message}${cause}` : String(err);
}

/** Calls an /api route; resolves with the success envelope, rejects with the server's error. */
export async function callApi<T>(
  fetchImpl: typeof fetch,
  url: string,
  init: RequestInit,
  signal: AbortSignal | undefined,
): Promise<{ data: T; msg: string; url?: string }> {
  const res = await send(fetchImpl, url, init, signal);
  let text: string;
  try {
    text = await res.text();
  } catch (err: unknown) {
    // The connection broke while the answer was read: a network failure, retried.
    if (signal?.aborted) throw abortError();
    throw new TransferError(
      'NETWORK',
      `Connection lost reading the answer from ${redactUserinfo(url)}: ${errorText(err)}`,
      {
        cause: err,
      },
    );
  }
  let body: Envelope<T> | undefined;
  try {
    body = JSON.parse(text) as Envelope<T>;
  } catch (err: unknown) {
    const code = res.status >= 500 || res.status === 0 ? 'INTERNAL' : 'BAD_RESPONSE';
    throw new TransferError(code, `HTTP ${res.status} from ${redactUserinfo(url)} is not a protocol answer`, {
      status: res.status || 502,
      cause: err,
    });
  }
  const error = errorFromEnvelope(body, res.status);
  if (error) throw error;
  if (!res.ok)
    throw new TransferError('BAD_RESPONSE', `HTTP ${res.status} with a success envelope`, {
      status: res.status,
    });
  return body as { data: T; msg: string; url?: string };
}
