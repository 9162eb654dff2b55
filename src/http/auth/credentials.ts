/** Where a request's credential is: `Authorization: Bearer <token>` (RFC 6750 §2.1). */
import { createHash } from 'node:crypto';
import type { IncomingMessage } from 'node:http';

/** Longer is not a token of ours: refused without hashing it. */
export const MAX_TOKEN_LENGTH = 4096;

/** The bearer token of a request, or undefined. */
export function bearerToken(req: IncomingMessage): string | undefined {
  const header = req.headers.authorization;
  if (typeof header !== 'string') return undefined;
  const match = /^Bearer[ \t]+([A-Za-z0-9\-._~+/]+=*)[ \t]*$/i.exec(header);
  const token = match?.[1];
  return token && token.length <= MAX_TOKEN_LENGTH ? token : undefined;
}

/** A stable, non-secret name for a token (its SHA-256, shortened): a principal, a log field. */
export function tokenFingerprint(token: string): string {
  return `token-${createHash('sha256').update(token).digest('hex').slice(0, 12)}`;
}
