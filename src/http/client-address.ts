/**
 * Who is asking: the client's address, the key of every per-client limit (connections here, open
 * uploads and quotas in the core). It is a security input, so it comes from what a client cannot
 * forge:
 *
 * - the socket's peer address (an IPv4 address mapped into IPv6 is written as IPv4);
 * - on the owner's internal socket (`serve --workers`: a reader forwarded the request, forward.ts),
 *   the address the reader wrote into INTERNAL_CLIENT_HEADER. That header is deleted from every
 *   request that arrives from outside, so nobody can choose their own address with it;
 * - with `--trust-proxy` (addresses, CIDRs or `loopback`; default none): when the peer is a trusted
 *   proxy, the right-most X-Forwarded-For entry that is not a trusted proxy (what nginx's
 *   real_ip_recursive does: entries left of it are whatever the client wrote).
 *
 * The pipeline resolves the address once per request (`resolveClientAddress`); `clientAddress`
 * reads it anywhere after.
 */
import type { IncomingMessage } from 'node:http';
import { BlockList, isIP } from 'node:net';

/** Set by a reader on the requests it forwards to the owner; never trusted from outside. */
export const INTERNAL_CLIENT_HEADER = 'x-resumable-client-address';

const resolved = new WeakMap<IncomingMessage, string>();

/** `::ffff:10.0.0.1` → `10.0.0.1`; undefined (a Unix socket) → 'unknown'. */
export function normalizeAddress(address: string | undefined): string {
  if (!address) return 'unknown';
  const v4 = /^::ffff:(\d{1,3}(?:\.\d{1,3}){3})$/i.exec(address);
  return v4?.[1] ?? address.toLowerCase();
}

/** The address a request came from (see the file's comment); the peer's if not resolved yet. */
export function clientAddress(req: IncomingMessage): string {
  return resolved.get(req) ?? normalizeAddress(req.socket?.remoteAddress);
}

/** Which peers may tell us the client's address in X-Forwarded-For. */
export interface TrustedProxies {
  has(address: string): boolean;
}

export const TRUST_NONE: TrustedProxies = { has: () => false };

/**
 * One `--trust-proxy` entry, checked: `loopback`, an IP address or a CIDR (10.0.0.0/8, fd00::/8).
 * Returns it as given; throws an Error showing a good value.
 */
export function parseTrustedProxy(entry: string): string {
  const value = entry.trim();
  if (value === 'loopback') return value;
  const [ip = '', bits, extra] = value.split('/');
  const family = isIP(ip);
  const prefix = bits === undefined ? undefined : Number(bits);
  const okPrefix =
    prefix === undefined || (bits !== undefined && /^\d+$/.test(bits) && prefix <= (family === 6 ? 128 : 32));
  if (family === 0 || extra !== undefined || !okPrefix) {
    throw new Error(`expected loopback, an IP address or a CIDR such as 10.0.0.0/8, got "${entry}"`);
  }
  return value;
}

export function trustedProxies(entries: readonly string[]): TrustedProxies {
  if (entries.length === 0) return TRUST_NONE;
  const list = new BlockList();
  for (const entry of entries.map(parseTrustedProxy)) {
    if (entry === 'loopback') {
      list.addSubnet('127.0.0.0', 8, 'ipv4');
      list.addAddress('::1', 'ipv6');
      continue;
    }
    const [ip = '', bits] = entry.split('/');
    const type = isIP(ip) === 6 ? 'ipv6' : 'ipv4';
    if (bits === undefined) list.addAddress(ip, type);
    else list.addSubnet(ip, Number(bits), type);
  }
  return {
    has(address) {
      const family = isIP(address);
      return family !== 0 && list.check(address, family === 6 ? 'ipv6' : 'ipv4');
    },
  };
}

/** The right-most X-Forwarded-For entry that is not a trusted proxy; the left-most if all are. */
function forwardedFor(header: string | string[] | undefined, trusted: TrustedProxies): string | undefined {
  if (header === undefined) return undefined;
  const hops = (Array.isArray(header) ? header.join(',') : header)
    .split(',')
    .map((s) => normalizeAddress(s.trim()))
    .filter((s) => isIP(s) !== 0);
  for (let i = hops.length - 1; i >= 0; i--) {
    const hop = hops[i] as string;
    if (!trusted.has(hop) || i === 0) return hop;
  }
  return undefined;
}

/**
 * Decides the request's client address, once, before anything else reads it. `internal`: the
 * request arrived on the owner's internal socket, from a reader.
 */
export function resolveClientAddress(
  req: IncomingMessage,
  internal: boolean,
  trusted: TrustedProxies,
): string {
  const told = req.headers[INTERNAL_CLIENT_HEADER];
  // Only when present: a delete turns the headers object into a slow dictionary for every later
  // read of the request's headers.
  if (told !== undefined) delete req.headers[INTERNAL_CLIENT_HEADER];
  const peer = normalizeAddress(req.socket?.remoteAddress);
  let address = peer;
  if (internal) address = typeof told === 'string' && told ? normalizeAddress(told) : peer;
  else if (trusted.has(peer)) address = forwardedFor(req.headers['x-forwarded-for'], trusted) ?? peer;
  resolved.set(req, address);
  return address;
}
