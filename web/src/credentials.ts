/**
 * The page's credential: a token handed over in its URL (`?token=…` or `#token=…`, by the
 * application that sends users here), kept in sessionStorage for this tab and removed from the
 * visible URL (history, bookmarks, screenshots, Referer), then sent as `Authorization: Bearer`.
 */
const KEY = 'resumable-transfer:token';

function takeTokenFromUrl(): string | undefined {
  const url = new URL(location.href);
  const hash = new URLSearchParams(url.hash.slice(1));
  const inQuery = url.searchParams.get('token') ?? undefined;
  const inHash = hash.get('token') ?? undefined;
  if (inQuery === undefined && inHash === undefined) return undefined;
  url.searchParams.delete('token');
  if (inHash !== undefined) {
    hash.delete('token');
    const rest = hash.toString();
    url.hash = rest ? `#${rest}` : '';
  }
  history.replaceState(history.state, '', url.href);
  return inQuery ?? inHash;
}

let cached: Record<string, string> | undefined;

/** The headers every request of the page carries (empty without a token). */
export function authHeaders(): Record<string, string> {
  if (cached) return cached;
  const fresh = takeTokenFromUrl();
  let token: string | undefined;
  try {
    if (fresh) sessionStorage.setItem(KEY, fresh);
    token = fresh ?? sessionStorage.getItem(KEY) ?? undefined;
  } catch {
    // Storage blocked (privacy settings): the token lives for this page only.
    token = fresh;
  }
  cached = token ? { authorization: `Bearer ${token}` } : {};
  return cached;
}
