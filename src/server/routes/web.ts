/** Serves the built web page (web/dist) at / with the same byte server as everything else. */
import type { IncomingMessage, ServerResponse } from 'node:http';
import { join } from 'node:path';
import { serveBytes } from '../../http/serve-bytes.js';
import { FdSource } from '../../io/fd-source.js';
import { contentTypeFor } from '../library.js';

const SAFE_PATH = /^(?:[A-Za-z0-9_-][A-Za-z0-9._-]*\/)*[A-Za-z0-9_-][A-Za-z0-9._-]*$/;

/** Returns false when there is no such asset (the caller answers 404). */
export async function webRoute(
  webDir: string | null,
  req: IncomingMessage,
  res: ServerResponse,
  path: string,
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
    });
  } finally {
    await source.close();
  }
  return true;
}
