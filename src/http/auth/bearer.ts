/**
 * `--auth token`: a fixed list of bearer tokens (a file, one per line, or RESUMABLE_AUTH_TOKENS,
 * comma-separated), each optionally `name:token`, the name becoming the principal. Any listed
 * token may do everything; a token is compared by its SHA-256 (a Map lookup on a digest leaks
 * nothing about the secret through timing).
 */
import { createHash } from 'node:crypto';
import { bearerToken, tokenFingerprint } from './credentials.js';
import { type Authorize, allow, unauthorized } from './types.js';

const digest = (token: string) => createHash('sha256').update(token).digest('base64');

export interface BearerEntry {
  token: string;
  principal: string;
}

/** Lines (or comma-separated items) of `token` or `name:token`; blank lines and `#` comments skipped. */
export function parseTokenList(text: string): BearerEntry[] {
  const out: BearerEntry[] = [];
  for (const raw of text.split(/[\n,]/)) {
    const line = raw.trim();
    if (!line || line.startsWith('#')) continue;
    const colon = line.indexOf(':');
    const token = colon < 0 ? line : line.slice(colon + 1).trim();
    const name = colon < 0 ? '' : line.slice(0, colon).trim();
    if (token.length < 16) throw new Error('a bearer token must be at least 16 characters long');
    if (!/^[A-Za-z0-9\-._~+/]+=*$/.test(token))
      throw new Error('a bearer token may use only letters, digits and -._~+/ (then =)');
    out.push({ token, principal: name || tokenFingerprint(token) });
  }
  return out;
}

export function bearerAuthorizer(entries: readonly BearerEntry[]): Authorize {
  if (entries.length === 0) throw new Error('--auth token needs at least one token');
  const byDigest = new Map(entries.map((e) => [digest(e.token), e.principal]));
  return ({ request }) => {
    const token = bearerToken(request);
    const principal = token === undefined ? undefined : byDigest.get(digest(token));
    return principal === undefined ? unauthorized() : allow(principal);
  };
}
