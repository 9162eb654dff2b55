/**
 * `--auth signed`: upload tokens an application backend issues (`resumable token sign`, or
 * `signUploadToken` from the server entry) and its page passes on. A token is
 * `base64url(json).base64url(HMAC-SHA256(secret, base64url(json)))` over
 *
 *   { "v": 1, "exp": <unix seconds>, "max"?: <bytes>, "fid"?: <md5>, "sub"?: <principal> }
 *
 * Missing, malformed, wrongly signed or expired: 401. Valid but for another fileId, or for fewer
 * bytes than the handshake declares or a chunk carries: 403. Like a JWT with one algorithm fixed
 * (no `alg` header to downgrade), and small enough for a URL.
 */
import { createHmac, timingSafeEqual } from 'node:crypto';
import { bearerToken, MAX_TOKEN_LENGTH, tokenFingerprint } from './credentials.js';
import { type Authorize, allow, forbidden, unauthorized } from './types.js';

export interface UploadTokenClaims {
  /** Expiry, seconds since the epoch. */
  exp: number;
  /** Largest file (declared handshake size, bytes of a chunk) the token allows. */
  max?: number | undefined;
  /** The one upload (MD5, lower-case hex) the token is for. */
  fid?: string | undefined;
  /** The principal (becomes the upload's owner); default: the token's fingerprint. */
  sub?: string | undefined;
}

/** Shortest secret accepted: 32 bytes, as for HS256 keys (RFC 7518 §3.2). */
export const MIN_SECRET_BYTES = 32;

export function checkSecret(secret: string | Buffer): Buffer {
  const key = typeof secret === 'string' ? Buffer.from(secret.trim(), 'utf8') : secret;
  if (key.length < MIN_SECRET_BYTES)
    throw new Error(`the signing secret must be at least ${MIN_SECRET_BYTES} bytes (openssl rand -hex 32)`);
  return key;
}

const mac = (key: Buffer, body: string) => createHmac('sha256', key).update(body).digest();

export function signUploadToken(secret: string | Buffer, claims: UploadTokenClaims): string {
  const key = checkSecret(secret);
  const payload: Record<string, unknown> = { v: 1, exp: Math.floor(claims.exp) };
  if (claims.max !== undefined) payload.max = claims.max;
  if (claims.fid !== undefined) payload.fid = claims.fid.toLowerCase();
  if (claims.sub !== undefined) payload.sub = claims.sub;
  const body = Buffer.from(JSON.stringify(payload)).toString('base64url');
  return `${body}.${mac(key, body).toString('base64url')}`;
}

export type Verified = { ok: true; claims: UploadTokenClaims } | { ok: false; reason: string };

function claimsOf(json: unknown): UploadTokenClaims | undefined {
  if (typeof json !== 'object' || json === null) return undefined;
  const o = json as Record<string, unknown>;
  const { exp, max, fid, sub } = o;
  if (o.v !== 1 || typeof exp !== 'number' || !Number.isFinite(exp)) return undefined;
  if (max !== undefined && !(typeof max === 'number' && Number.isSafeInteger(max) && max >= 0))
    return undefined;
  if (fid !== undefined && !(typeof fid === 'string' && /^[0-9a-f]{32}$/.test(fid))) return undefined;
  if (sub !== undefined && !(typeof sub === 'string' && sub.length > 0 && sub.length <= 200))
    return undefined;
  return { exp, max, fid, sub };
}

/** Checks signature, shape and expiry; the messages name no part of the token or secret. */
export function verifyUploadToken(key: Buffer, token: string, nowMs = Date.now()): Verified {
  const dot = token.indexOf('.');
  if (token.length > MAX_TOKEN_LENGTH || dot < 0 || token.indexOf('.', dot + 1) >= 0)
    return { ok: false, reason: 'not an upload token' };
  const body = token.slice(0, dot);
  const given = Buffer.from(token.slice(dot + 1), 'base64url');
  const expected = mac(key, body);
  if (given.length !== expected.length || !timingSafeEqual(given, expected))
    return { ok: false, reason: 'the token signature is not valid' };
  let claims: UploadTokenClaims | undefined;
  try {
    claims = claimsOf(JSON.parse(Buffer.from(body, 'base64url').toString('utf8')));
  } catch {
    claims = undefined;
  }
  if (!claims) return { ok: false, reason: 'not an upload token' };
  if (claims.exp * 1000 <= nowMs) return { ok: false, reason: 'the token has expired' };
  return { ok: true, claims };
}

export function signedTokenAuthorizer(secret: string | Buffer, now: () => number = Date.now): Authorize {
  const key = checkSecret(secret);
  return ({ request, action, fileId, size, phase }) => {
    const token = bearerToken(request);
    if (token === undefined) return unauthorized();
    const verified = verifyUploadToken(key, token, now());
    if (!verified.ok) return unauthorized(`Invalid credentials: ${verified.reason}.`);
    const { claims } = verified;
    if (claims.fid !== undefined && fileId !== undefined && fileId.toLowerCase() !== claims.fid)
      return forbidden('This token is for another file.');
    if (claims.max !== undefined) {
      if (size !== undefined && size > claims.max)
        return forbidden(`This token allows at most ${claims.max} bytes.`);
      // A size-bound token needs the handshake to declare the size it is checked against.
      if (action === 'handshake' && phase === 'body' && size === undefined)
        return forbidden('This token allows a limited size: send the file size in the handshake.');
    }
    return allow(claims.sub ?? tokenFingerprint(token));
  };
}
