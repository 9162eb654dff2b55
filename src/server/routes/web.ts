/** Serves the built web page (web/dist) at / with the same byte server as everything else. */
import { constants } from 'node:fs';
import { open } from 'node:fs/promises';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { join } from 'node:path';
import { FileHandleSource } from '../../storage/byte-source.js';
import { serveBytes } from '../http/serve-bytes.js';
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
  const fh = await open(join(webDir, rel), constants.O_RDONLY | constants.O_NOFOLLOW).catch(() => undefined);
  if (!fh) return false;
  const st = await fh.stat();
  if (!st.isFile()) {
    await fh.close();
    return false;
  }
  const source = await FileHandleSource.open(fh);
  try {
    await serveBytes(req, res, {
      source,
      etag: `"${st.ino.toString(16)}-${st.size.toString(16)}-${Math.floor(st.mtimeMs).toString(16)}"`,
      contentType: contentTypeFor(rel),
      contentDisposition: 'inline',
      cacheControl: 'no-cache',
    });
  } finally {
    await source.close();
  }
  return true;
}
