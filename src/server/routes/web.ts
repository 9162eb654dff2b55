/**
 * Serves the built web page (web/dist), or the operator's `--web-dir`, at / with the same byte
 * server as everything else. Sub-folders are served (`lib/jquery.min.js`), only inside the folder.
 */
import { realpath } from 'node:fs/promises';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { basename, dirname, join, sep } from 'node:path';
import { serveBytes } from '../../http/serve-bytes.js';
import { FdSource } from '../../io/fd-source.js';
import { contentTypeFor } from '../library.js';

/**
 * The path as sent (not decoded): segments of letters, digits, `.`, `_` and `-`, none starting
 * with a dot. So no `..` or `.` segment, no dotfile, no percent-encoding (`%2e%2e`, `%2f`), no
 * backslash and no empty segment ever reach the file system.
 */
const SAFE_PATH = /^(?:[A-Za-z0-9_-][A-Za-z0-9._-]*\/)*[A-Za-z0-9_-][A-Za-z0-9._-]*$/;

/**
 * Whether the folder holding `rel` is inside webDir once symlinks are resolved: a folder that is
 * a link leading out of it is not served (the file itself is opened with O_NOFOLLOW).
 */
async function folderInside(webDir: string, rel: string): Promise<boolean> {
  const folder = dirname(rel);
  if (folder === '.') return true;
  const [root, real] = await Promise.all([
    realpath(webDir).catch(() => undefined),
    realpath(join(webDir, folder)).catch(() => undefined),
  ]);
  return root !== undefined && real !== undefined && (real === root || real.startsWith(root + sep));
}

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
  if (!(await folderInside(webDir, rel))) return false;
  const opened = FdSource.open(join(webDir, rel));
  if (!opened) return false;
  const { source } = opened;
  try {
    await serveBytes(req, res, {
      source,
      etag: `"${opened.ino.toString(16)}-${source.size.toString(16)}-${opened.mtimeNs.toString(16)}"`,
      // By the file's name: mime-types takes anything with a slash for a type already, and
      // answered `lib/jquery.min.js` as the Content-Type of lib/jquery.min.js.
      contentType: contentTypeFor(basename(rel)),
      contentDisposition: 'inline',
      cacheControl: 'no-cache',
      headers,
    });
  } finally {
    await source.close();
  }
  return true;
}
