/** fetch with the protocol's error mapping: envelopes → TransferError, failures → NETWORK. */
import { type Envelope, errorFromEnvelope } from '../../protocol/envelope.js';
import { TransferError } from '../../protocol/errors.js';
import { abortError, parseRetryAfter } from './backoff.js';
import type { CredentialOptions, OutgoingRequest } from './types.js';

/**
 * A request whose transport can count its body as it is written (the Node entry's does; a
 * browser's fetch cannot, and ignores the field): `onBodyProgress` gets the bytes written so far.
 */
export interface BodyProgressInit extends RequestInit {
  onBodyProgress?: (written: number) => void;
}

/** Each transport with credentials → the same transport without them (for another origin). */
const plainTransports = new WeakMap<typeof fetch, typeof fetch>();

/** The transport without the credentials withCredentials added (itself if it added none). */
export function withoutCredentials(fetchImpl: typeof fetch): typeof fetch {
  return plainTransports.get(fetchImpl) ?? fetchImpl;
}

/**
 * The parts of a presigned URL (S3 SigV4, as a server's `--s3-redirect` hands out) that let
 * anyone holding it fetch the file until it expires: shown as `***`, like a password.
 */
const PRESIGNED_SECRET = /([?&](?:X-Amz-Signature|X-Amz-Security-Token)=)[^&#\s]*/gi;

/**
 * A URL's password (and user) as shown in messages: `https://user:***@host/`; a presigned URL's
 * signature likewise (`X-Amz-Signature=***`).
 */
export function redactUserinfo(text: string): string {
  return text
    .replace(
      /\b([a-z][a-z0-9+.-]*:\/\/)([^/?#@\s:]*)(?::[^/?#@\s]*)?@/gi,
      (_m, scheme: string, user: string) => `${scheme}${user ? `${user}:***` : '***'}@`,
    )
    .replace(PRESIGNED_SECRET, '$1***');
}

/**
 * The transport with the transfer's credentials: `headers` on every request (a request's own
 * headers, such as Range, win), then `onBeforeRequest`, and `onAfterResponse` on each answer.
 */
export function withCredentials(fetchImpl: typeof fetch, options: CredentialOptions): typeof fetch {
  const { headers, onBeforeRequest, onAfterResponse } = options;
  if (!headers && !onBeforeRequest && !onAfterResponse) return fetchImpl;
  const credentialed = (async (input: string | URL | Request, init: RequestInit = {}) => {
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
  plainTransports.set(credentialed, withoutCredentials(fetchImpl));
  return credentialed;
}

/** Seconds as people read them: `10 s`, `1.5 s`. */
function seconds(ms: number): string {
  return `${Number((ms / 1000).toFixed(1))} s`;
}

/** Fails fast for a URL no attempt can fetch (ftp:, file:, nonsense): never retried. */
export function checkHttpUrl(url: string): URL {
  // A page may pass a URL relative to itself.
  const base = (globalThis as { location?: { href?: string } }).location?.href;
  const parsed = URL.canParse(url, base) ? new URL(url, base) : undefined;
  if (!parsed) throw new TransferError('BAD_RESPONSE', `Not a URL: ${redactUserinfo(url)}`);
  if (parsed.protocol !== 'http:' && parsed.protocol !== 'https:')
    throw new TransferError(
      'BAD_RESPONSE',
      `Unsupported protocol ${parsed.protocol} in ${redactUserinfo(url)}: only http and https`,
    );
  return parsed;
}

/**
 * One request. `timeout` (ms): the answer must begin within it, connecting included, or the
 * attempt fails as a NETWORK error (retried); once the headers are in, it no longer applies.
 */
export async function send(
  fetchImpl: typeof fetch,
  url: string,
  init: RequestInit,
  signal: AbortSignal | undefined,
  timeout?: number,
): Promise<Response> {
  if (signal?.aborted) throw abortError();
  const origin = checkHttpUrl(url).origin;
  const timer = timeout ? new AbortController() : undefined;
  const handle = timer ? setTimeout(() => timer.abort(), timeout) : undefined;
  const combined = timer ? (signal ? AbortSignal.any([signal, timer.signal]) : timer.signal) : signal;
  try {
    // no-store: a browser must not answer a ranged resume from its HTTP cache (a cached 200 of
    // the thumbnail, say), and no API answer may be cached.
    return await fetchImpl(url, { cache: 'no-store', ...init, signal: combined ?? null });
  } catch (err: unknown) {
    if (signal?.aborted) throw abortError();
    if (timer?.signal.aborted)
      throw new TransferError('NETWORK', `No answer from ${origin} within ${seconds(timeout ?? 0)}`, {
        cause: err,
      });
    throw new TransferError('NETWORK', `Cannot reach ${origin}: ${errorText(err)}`, {
      cause: err,
    });
  } finally {
    clearTimeout(handle);
  }
}

const REDIRECTS = new Set([301, 302, 303, 307, 308]);

export interface Followed {
  res: Response;
  /** The URL that answered (after the redirects). */
  url: string;
  /** The transport for that URL: without the credentials when it is on another origin. */
  fetch: typeof fetch;
}

/**
 * send(), following redirects as curl -L and wget do, up to `maxRedirects`: absolute and relative
 * Locations, to http or https only. Credentials are not sent on to another origin (curl's rule).
 * A fetch that follows redirects by itself (a browser's) is taken at its word (`res.url`).
 */
export async function sendFollowing(
  fetchImpl: typeof fetch,
  url: string,
  init: RequestInit,
  signal: AbortSignal | undefined,
  options: { timeout?: number | undefined; maxRedirects?: number | undefined },
): Promise<Followed> {
  const max = options.maxRedirects ?? 10;
  const startOrigin = checkHttpUrl(url).origin;
  let current = url;
  let transport = fetchImpl;
  for (let hops = 0; ; hops++) {
    const res = await send(transport, current, init, signal, options.timeout);
    const location = res.headers.get('location');
    if (!REDIRECTS.has(res.status) || location === null) {
      const final = res.redirected && res.url ? res.url : current;
      return { res, url: final, fetch: transport };
    }
    await res.body?.cancel().catch(() => undefined);
    if (hops >= max)
      throw new TransferError(
        'BAD_RESPONSE',
        `Gave up after ${max} redirects (the limit: maxRedirects, --max-redirects), the last to ${redactUserinfo(
          new URL(location, current).href,
        )}: a redirect loop?`,
        { status: res.status },
      );
    const next = new URL(location, current);
    if (next.protocol !== 'http:' && next.protocol !== 'https:')
      throw new TransferError(
        'BAD_RESPONSE',
        `${redactUserinfo(current)} redirects to an unsupported protocol (${next.protocol}): only http and https`,
        { status: res.status },
      );
    current = next.href;
    transport = next.origin === startOrigin ? fetchImpl : withoutCredentials(fetchImpl);
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
  const retryAfter = parseRetryAfter(res.headers.get('retry-after'));
  if (error && retryAfter !== undefined)
    throw new TransferError(error.code, error.message, { status: error.status, retryAfter });
  if (error) throw error;
  if (!res.ok)
    throw new TransferError('BAD_RESPONSE', `HTTP ${res.status} with a success envelope`, {
      status: res.status,
    });
  return body as { data: T; msg: string; url?: string };
}
