/** The base of the links this server hands out (file URLs in answers, the library list). */
import type { IncomingMessage } from 'node:http';
import type { ServerConfig } from '../config.js';

export type BaseUrl = (req: IncomingMessage) => string;

const HOST_HEADER = /^[A-Za-z0-9.-]+(?::\d{1,5})?$|^\[[0-9A-Fa-f:.]+\](?::\d{1,5})?$/;

/**
 * --public-url when set (behind a proxy); else the request's Host, if it looks like one (never a
 * header that would inject markup or another scheme); else the listening address.
 */
export function baseUrlFor(config: ServerConfig, listeningPort: () => number | undefined): BaseUrl {
  return (req) => {
    if (config.publicUrl) return config.publicUrl.replace(/\/+$/, '');
    const host = req.headers.host;
    if (host && HOST_HEADER.test(host)) return `http://${host}`;
    return `http://${config.host}:${listeningPort() ?? config.port}`;
  };
}
