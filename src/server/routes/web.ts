/** Serves the built web page (web/dist) at / with the same byte server as everything else. */
import type { IncomingMessage, ServerResponse } from 'node:http';
import { join } from 'node:path';
import { serveBytes } from '../../http/serve-bytes.js';
import { FdSource } from '../../io/fd-source.js';
import { contentTypeFor } from '../library.js';

const SAFE_PATH = /^(?:[A-Za-z0-9_-][A-Za-z0-9._-]*\/)*[A-Za-z0-9_-][A-Za-z0-9._-]*$/;

/**
 * The page's own headers: a CSP allowing only its own scripts (no inline script; WebAssembly for
 * the hashing workers), no plugins, no <base>, and framed by nobody unless configured.
 */
export function pageHeaders(frameAncestors: string): Record<string, string> {
  const csp = [
    "default-src 'self'",
    "script-src 'self' 'wasm-unsafe-eval'",
    "worker-src 'self'",
    "connect-src 'self'",
    "img-src 'self' data: blob:",
    "style-src 'self'",
    "object-src 'none'",
    "base-uri 'none'",
    "form-action 'self'",
    `frame-ancestors ${frameAncestors}`,
  ].join('; ');
  const headers: Record<string, string> = {
    'Content-Security-Policy': csp,
    'Referrer-Policy': 'no-referrer',
  };
  if (frameAncestors === "'none'") headers['X-Frame-Options'] = 'DENY';
  else if (frameAncestors === "'self'") headers['X-Frame-Options'] = 'SAMEORIGIN';
  return headers;
}

/** Returns false when there is no such asset (the caller answers 404). */
export async function webRoute(
  webDir: string | null,
  req: IncomingMessage,
  res: ServerResponse,
  path: string,
  headers: Record<string, string> = {},
) {
  if (!webDir) return false;
  const rel = path === '/' ? 'index.html' : path.slice(1);
  if (!SAFE_PATH.test(rel)) return false;
  const opened = FdSource.open(join(webDir, rel));
  if (!opened) return false;
  const { source } = opened;
  try {
    await serveBytes(req, res, {
      source,
      etag: `"${opened.ino.toString(16)}-${source.size.toString(16)}-${opened.mtimeNs.toString(16)}"`,
      contentType: contentTypeFor(rel),
      contentDisposition: 'inline',
      cacheControl: 'no-cache',
      headers,
    });
  } finally {
    await source.close();
  }
  return true;
}
