/**
 * How an uploaded file is served: its type and name come from what its upload recorded (the
 * published file's ext and name), never from the extension a requester puts in the link, and only
 * passive types are shown inline. Everything else (html, svg, xml, js, css, pdf, executables, and
 * any type not listed here) is an attachment: a browser saves it rather than rendering it on our
 * origin. The CSP sandbox and nosniff are added on every upload besides (files.ts).
 */
import mime from 'mime-types';
import type { PublishedFile } from '../../storage/storage.js';

/** Types a browser shows without running anything (media, plain text, archives). */
const PASSIVE_PREFIXES = ['image/', 'audio/', 'video/'];
const ACTIVE_MEDIA = new Set(['image/svg+xml']);
const PASSIVE_TYPES = new Set([
  'text/plain',
  'application/octet-stream',
  'application/zip',
  'application/gzip',
  'application/x-tar',
  'application/x-7z-compressed',
  'application/x-bzip2',
  'application/x-xz',
  'application/vnd.rar',
]);

export function isPassiveType(contentType: string): boolean {
  const base = (contentType.split(';')[0] ?? '').trim().toLowerCase();
  if (ACTIVE_MEDIA.has(base)) return false;
  return PASSIVE_TYPES.has(base) || PASSIVE_PREFIXES.some((p) => base.startsWith(p));
}

/** Bidi controls let a name show another extension than it has (U+202E: `gpj.exe` as `exe.jpg`). */
const BIDI_CONTROLS = /[\u200e\u200f\u202a-\u202e\u2066-\u2069]/g;

export interface ServedAs {
  contentType: string;
  disposition: 'inline' | 'attachment';
  name: string;
}

export function servedAs(file: PublishedFile): ServedAs {
  const ext = file.ext ?? '';
  const contentType = (ext && mime.contentType(ext)) || 'application/octet-stream';
  const original = file.name?.replace(BIDI_CONTROLS, '');
  const name =
    original && ext && original.toLowerCase().endsWith(ext.toLowerCase()) ? original : `${file.key}${ext}`;
  return { contentType, disposition: isPassiveType(contentType) ? 'inline' : 'attachment', name };
}
