/** What a download learns before its first byte: size, validator, ranges, name (HEAD, or a first ranged GET). */
import { parseContentDispositionName, safeFileName } from '../../protocol/content-disposition.js';
import { TransferError } from '../../protocol/errors.js';
import { parseContentRange } from '../../protocol/range.js';
import { parseRetryAfter } from './backoff.js';
import { redactUserinfo, sendFollowing } from './http.js';
import type { DownloadInfo } from './types.js';

export function statusError(res: Response, url: string): TransferError {
  const code =
    res.status === 401
      ? 'UNAUTHORIZED'
      : res.status === 403
        ? 'FORBIDDEN'
        : res.status >= 500 || res.status === 408 || res.status === 429
          ? 'INTERNAL'
          : 'BAD_RESPONSE';
  const reason = res.statusText ? ` ${res.statusText}` : '';
  return new TransferError(code, `The server answered ${res.status}${reason} for ${redactUserinfo(url)}`, {
    status: res.status,
    retryAfter: parseRetryAfter(res.headers.get('retry-after')),
  });
}

/** The ETag if it is strong: only a strong one proves that two ranges are of the same bytes. */
export function strongEtag(value: string | null): string | null {
  return value && !value.startsWith('W/') ? value : null;
}

function nameFrom(res: Response, url: string): string {
  const fromHeader = parseContentDispositionName(res.headers.get('content-disposition'));
  let fromUrl: string | undefined;
  try {
    fromUrl = decodeURIComponent(new URL(url).pathname.split('/').pop() ?? '');
  } catch {
    fromUrl = undefined;
  }
  return safeFileName(fromHeader ?? fromUrl, 'download');
}

export interface Probed extends DownloadInfo {
  /** The transport for `url`: without the credentials if the redirects left the origin. */
  fetch: typeof fetch;
}

/**
 * HEAD; if the server has no HEAD or no length there, a GET of the first byte. Redirects are
 * followed: what is learnt (size, validators) is the final URL's; the name is still taken from
 * the URL asked for (as wget and curl -O do), unless Content-Disposition gives one.
 */
export async function probe(
  fetchImpl: typeof fetch,
  url: string,
  signal?: AbortSignal,
  options: { timeout?: number | undefined; maxRedirects?: number | undefined } = {},
): Promise<Probed> {
  const {
    res: head,
    url: headUrl,
    fetch: headFetch,
  } = await sendFollowing(fetchImpl, url, { method: 'HEAD' }, signal, options);
  const length = head.headers.get('content-length');
  if (head.ok && head.status === 200 && length !== null) {
    return {
      url: headUrl,
      fetch: headFetch,
      size: Number(length),
      etag: strongEtag(head.headers.get('etag')),
      lastModified: head.headers.get('last-modified'),
      acceptRanges: (head.headers.get('accept-ranges') ?? '').toLowerCase().includes('bytes'),
      name: nameFrom(head, url),
    };
  }
  if (head.status !== 405 && head.status !== 501 && !head.ok) throw statusError(head, headUrl);
  const got = await sendFollowing(fetchImpl, url, { headers: { range: 'bytes=0-0' } }, signal, options);
  const res = got.res;
  await res.body?.cancel().catch(() => undefined);
  const cr = parseContentRange(res.headers.get('content-range'));
  const size = res.status === 206 ? cr?.size : Number(res.headers.get('content-length') ?? Number.NaN);
  if (!res.ok || size === undefined || !Number.isSafeInteger(size)) {
    throw res.ok
      ? new TransferError('BAD_RESPONSE', `${redactUserinfo(got.url)} has no known length`)
      : statusError(res, got.url);
  }
  return {
    url: got.url,
    fetch: got.fetch,
    size,
    etag: strongEtag(res.headers.get('etag')),
    lastModified: res.headers.get('last-modified'),
    acceptRanges: res.status === 206,
    name: nameFrom(res, url),
  };
}
