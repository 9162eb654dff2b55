/**
 * The base of the links this server hands out (file URLs in answers, the library list). A link
 * never carries a Host the operator did not name: an attacker's `Host: evil.example` would
 * otherwise put evil.example into every answer (and into caches in front of us).
 */
import type { IncomingMessage } from 'node:http';
import { networkInterfaces } from 'node:os';
import type { ServerConfig } from '../config.js';

export type BaseUrl = (req: IncomingMessage) => string;

const HOST_HEADER = /^([A-Za-z0-9.-]+|\[[0-9A-Fa-f:.]+\])(?::(\d{1,5}))?$/;
const WILDCARD = new Set(['0.0.0.0', '::', '[::]']);

const bracketed = (host: string) => (host.includes(':') && !host.startsWith('[') ? `[${host}]` : host);

/** This machine's own addresses (for a server bound to all of them). */
function ownAddresses(): string[] {
  return Object.values(networkInterfaces())
    .flat()
    .flatMap((i) => (i ? [bracketed(i.address.toLowerCase())] : []));
}

/**
 * Whether a Host header may appear in links. `allowedHosts` entries are `name` (any port) or
 * `name:port`; by default the loopback names and the bound address (all of this machine's when
 * bound to all), on any port: a local proxy in front of us keeps its own port in the Host, and
 * none of these names leads anywhere but this machine.
 */
export function hostAllowed(config: Pick<ServerConfig, 'allowedHosts' | 'host'>): (host: string) => boolean {
  const entries = config.allowedHosts?.map((h) => h.toLowerCase());
  let defaults: Set<string> | undefined;
  return (host) => {
    const m = HOST_HEADER.exec(host);
    if (!m?.[1]) return false;
    const name = m[1].toLowerCase();
    const hostPort = m[2] === undefined ? 80 : Number(m[2]);
    if (entries) return entries.includes(name) || entries.includes(`${name}:${hostPort}`);
    defaults ??= new Set([
      'localhost',
      '127.0.0.1',
      '[::1]',
      bracketed(config.host.toLowerCase()),
      ...(WILDCARD.has(config.host) ? ownAddresses() : []),
    ]);
    return defaults.has(name);
  };
}

/** The bound address as a link base: a wildcard bind names the loopback address. */
function boundBase(config: ServerConfig, port: number): string {
  const host = WILDCARD.has(config.host) ? '127.0.0.1' : bracketed(config.host);
  return `http://${host}:${port}`;
}

/** --public-url when set (behind a proxy); else the request's Host when allowed; else the bound address. */
export function baseUrlFor(config: ServerConfig, listeningPort: () => number | undefined): BaseUrl {
  if (config.publicUrl) {
    const fixed = config.publicUrl.replace(/\/+$/, '');
    return () => fixed;
  }
  let allowed: ((host: string) => boolean) | undefined;
  return (req) => {
    const port = listeningPort() ?? config.port;
    allowed ??= hostAllowed(config);
    const host = req.headers.host;
    if (host && allowed(host)) return `http://${host}`;
    return boundBase(config, port);
  };
}

/** The base of /upload/ links: --user-content-origin (a separate download host), else the links' base. */
export function uploadBaseFor(config: ServerConfig, baseUrl: BaseUrl): BaseUrl {
  if (!config.userContentOrigin) return baseUrl;
  const origin = config.userContentOrigin.replace(/\/+$/, '');
  return () => origin;
}
