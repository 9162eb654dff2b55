/** CORS for /api, /download and /upload (PROTOCOL.md §Cross-origin). */
import type { IncomingMessage, ServerResponse } from 'node:http';

/** The headers tus 1.0 and the IETF resumable-upload drafts answer with (protocols/tus, protocols/ietf). */
const RESUMABLE_HEADERS =
  'Upload-Offset, Location, Upload-Length, Tus-Version, Tus-Resumable, Tus-Max-Size, Tus-Extension, ' +
  'Tus-Checksum-Algorithm, Upload-Metadata, Upload-Defer-Length, Upload-Concat, Upload-Expires, ' +
  'Upload-Complete, Upload-Incomplete, Upload-Draft-Interop-Version, Upload-Limit, Link';

export const EXPOSED_HEADERS = `Content-Range, Content-Length, Content-Disposition, ETag, Accept-Ranges, Last-Modified, ${RESUMABLE_HEADERS}`;
const ALLOWED_METHODS = 'GET, HEAD, POST, PATCH, DELETE, OPTIONS';
const ALLOWED_HEADERS =
  'Content-Type, Range, If-Range, If-Match, If-None-Match, If-Modified-Since, If-Unmodified-Since, Accept-Language, ' +
  'Tus-Resumable, Upload-Offset, Upload-Length, Upload-Metadata, Upload-Defer-Length, Upload-Concat, Upload-Checksum, ' +
  'Upload-Complete, Upload-Incomplete, Upload-Draft-Interop-Version, X-HTTP-Method-Override, X-Requested-With';

export class Cors {
  private readonly any: boolean;
  private readonly origins: Set<string>;

  /** `spec` is `*` or a comma-separated list of origins. */
  constructor(spec: string) {
    const list = spec
      .split(',')
      .map((s) => s.trim())
      .filter(Boolean);
    this.any = list.length === 0 || list.includes('*');
    this.origins = new Set(list);
  }

  /** The CORS headers for a request (only `Vary` when its origin is not allowed). */
  headers(req: IncomingMessage): Record<string, string> {
    const origin = req.headers.origin;
    if (this.any)
      return { 'Access-Control-Allow-Origin': '*', 'Access-Control-Expose-Headers': EXPOSED_HEADERS };
    if (!origin || !this.origins.has(origin)) return { Vary: 'Origin' };
    return {
      Vary: 'Origin',
      'Access-Control-Allow-Origin': origin,
      'Access-Control-Expose-Headers': EXPOSED_HEADERS,
    };
  }

  /** Adds the CORS headers to a response. */
  apply(req: IncomingMessage, res: ServerResponse): void {
    for (const [k, v] of Object.entries(this.headers(req))) res.setHeader(k, v);
  }

  /** Answers an OPTIONS preflight. */
  preflight(req: IncomingMessage, res: ServerResponse): void {
    this.apply(req, res);
    res.setHeader('Access-Control-Allow-Methods', ALLOWED_METHODS);
    const asked = req.headers['access-control-request-headers'];
    res.setHeader(
      'Access-Control-Allow-Headers',
      typeof asked === 'string' && asked ? asked : ALLOWED_HEADERS,
    );
    res.setHeader('Access-Control-Max-Age', '86400');
    res.statusCode = 204;
    res.setHeader('Content-Length', '0');
    res.end();
  }
}
