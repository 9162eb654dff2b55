/**
 * Conditional requests (RFC 9110 §13) for the byte-serving routes. Evaluated in the RFC's order:
 * If-Match, If-Unmodified-Since, If-None-Match, If-Modified-Since; If-Range decides whether a
 * Range is honoured.
 */
import type { IncomingHttpHeaders } from 'node:http';

export type Precondition = 'proceed' | 'not-modified' | 'failed';

function tags(header: string): string[] {
  return header
    .split(',')
    .map((t) => t.trim())
    .filter(Boolean);
}

function opaque(tag: string): string {
  return tag.startsWith('W/') ? tag.slice(2) : tag;
}

function secondsOf(date: Date): number {
  return Math.floor(date.getTime() / 1000);
}

function parseDate(value: string | undefined): number | undefined {
  if (!value) return undefined;
  const t = Date.parse(value);
  return Number.isNaN(t) ? undefined : Math.floor(t / 1000);
}

export function evaluatePreconditions(
  headers: IncomingHttpHeaders,
  method: string,
  etag: string,
  mtime: Date,
): Precondition {
  const ifMatch = headers['if-match'];
  if (ifMatch !== undefined) {
    // Strong comparison: a weak tag never matches.
    const ok = tags(ifMatch).some((t) => t === '*' || (!t.startsWith('W/') && t === etag));
    if (!ok) return 'failed';
  } else {
    const since = parseDate(headers['if-unmodified-since']);
    if (since !== undefined && secondsOf(mtime) > since) return 'failed';
  }
  const safe = method === 'GET' || method === 'HEAD';
  const ifNoneMatch = headers['if-none-match'];
  if (ifNoneMatch !== undefined) {
    // Weak comparison.
    const match = tags(ifNoneMatch).some((t) => t === '*' || opaque(t) === opaque(etag));
    if (match) return safe ? 'not-modified' : 'failed';
  } else if (safe) {
    const since = parseDate(headers['if-modified-since']);
    if (since !== undefined && secondsOf(mtime) <= since) return 'not-modified';
  }
  return 'proceed';
}

/** Whether a Range may be honoured given If-Range (absent: yes). */
export function ifRangeAllows(headers: IncomingHttpHeaders, etag: string, mtime: Date): boolean {
  const raw = headers['if-range'];
  const value = typeof raw === 'string' ? raw.trim() : undefined;
  if (value === undefined) return true;
  if (value.startsWith('"') || value.startsWith('W/')) return value === etag; // weak never matches
  const t = Date.parse(value);
  return !Number.isNaN(t) && t === secondsOf(mtime) * 1000;
}
