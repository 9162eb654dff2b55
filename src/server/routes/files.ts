/** Byte-serving routes: /download/<name> (the library) and /upload/<link name> (uploads: upload-link.ts). */
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { InstantUploadPolicy } from '../../core/context.js';
import { serveBytes } from '../../http/serve-bytes.js';
import { formatContentDisposition } from '../../protocol/content-disposition.js';
import { TransferError } from '../../protocol/errors.js';
import { parseUploadName } from '../../protocol/ids.js';
import type { Storage } from '../../storage/storage.js';
import type { Library } from '../library.js';
import { servedAs } from './served-type.js';
import { openLinked } from './upload-link.js';

/** A missing file answers the same envelope as the API (the pipeline sends it). */
function notFound(): never {
  throw new TransferError('NOT_FOUND');
}

function decodeSegment(raw: string): string | undefined {
  try {
    const name = decodeURIComponent(raw);
    return name.includes('/') || name.includes('\\') ? undefined : name;
  } catch {
    return undefined;
  }
}

export async function downloadRoute(
  library: Library,
  req: IncomingMessage,
  res: ServerResponse,
  rawName: string,
  headers: Record<string, string> = {},
) {
  const name = decodeSegment(rawName);
  const file = name === undefined ? undefined : await library.open(name);
  if (!file) {
    notFound();
  }
  try {
    await serveBytes(req, res, {
      source: file.source,
      etag: file.etag,
      contentType: file.contentType,
      contentDisposition: formatContentDisposition('attachment', file.name),
      // Library files may change: caches must revalidate (ETag) before reuse.
      cacheControl: 'no-cache, no-transform',
      headers,
    });
  } finally {
    await file.source.close();
  }
}

export async function uploadedFileRoute(
  storage: Storage,
  req: IncomingMessage,
  res: ServerResponse,
  rawName: string,
  headers: Record<string, string> = {},
  access: 'public' | 'private' = 'public',
  policy: InstantUploadPolicy = 'open',
) {
  // Under instant upload 'proof' and 'off' only a capability link names a file (upload-link.ts).
  const parsed = parseUploadName(rawName);
  const opened = parsed && (await openLinked(storage, policy, parsed));
  if (!parsed || !opened) {
    notFound();
  }
  const { source, file } = opened;
  try {
    // What the upload recorded decides, not the extension in the link (served-type.ts).
    const served = servedAs(file);
    const answer = {
      contentType: served.contentType,
      contentDisposition: formatContentDisposition(served.disposition, served.name),
      // Content-addressed and immutable; under access control, no shared cache may keep it.
      cacheControl: `${access}, max-age=31536000, immutable, no-transform`,
    };
    // --s3-redirect: the store serves the bytes. Only now, past access control (the pipeline),
    // the link's capability and the file's existence (openLinked): a request refused above never
    // sees a URL. The redirect itself is never cached: its URL expires, the file does not.
    const method = req.method === 'HEAD' ? 'HEAD' : 'GET';
    const location = await storage.directUrl?.(file, method, answer);
    if (location !== undefined) {
      res.writeHead(302, {
        ...headers,
        Location: location,
        'Cache-Control': 'no-store',
        'Content-Length': '0',
      });
      res.end();
      return;
    }
    await serveBytes(req, res, {
      source,
      // The content's key (its MD5, and the SHA-256 prefix of a twin) is its name: the perfect
      // strong validator, stable forever.
      etag: `"${file.key}"`,
      ...answer,
      // An uploaded HTML or SVG must never run script on our origin.
      headers: { ...headers, 'Content-Security-Policy': 'sandbox' },
    });
  } finally {
    await source.close();
  }
}
