/**
 * tus `Upload-Metadata`: comma-separated pairs `key base64(value)`, a key alone meaning an empty
 * value; keys are unique, non-empty, without spaces or commas. Kept as received (HEAD echoes it)
 * and read for the name and type of the published file, and for the instant-upload claims.
 */
import { TransferError } from '../../protocol/errors.js';

const KEY = /^[\x21-\x2b\x2d-\x7e]+$/;
const BASE64 = /^[A-Za-z0-9+/]*={0,2}$/;

/** The pairs, decoded as UTF-8; INVALID_HEADER when the header does not follow the grammar. */
export function parseMetadata(header: string): Map<string, string> {
  const out = new Map<string, string>();
  if (header.trim() === '') return out;
  for (const pair of header.split(',')) {
    const parts = pair.trim().split(' ');
    const [key, value, ...rest] = parts;
    if (!key || !KEY.test(key) || rest.length > 0 || out.has(key)) {
      throw new TransferError('INVALID_HEADER', 'Upload-Metadata is not a list of "key base64value" pairs.');
    }
    if (value !== undefined && (value.length % 4 !== 0 || !BASE64.test(value))) {
      throw new TransferError('INVALID_HEADER', `Upload-Metadata: the value of ${key} is not base64.`);
    }
    out.set(key, value === undefined ? '' : Buffer.from(value, 'base64').toString('utf8'));
  }
  return out;
}

/** A name fit to publish: its last path segment, no control characters, at most 255 characters. */
export function safeFileName(raw: string): string | null {
  let clean = '';
  for (const ch of raw) {
    const code = ch.codePointAt(0) ?? 0;
    if (code >= 0x20 && code !== 0x7f) clean += ch;
  }
  const name = clean.split(/[\\/]/).pop() ?? '';
  return name ? name.slice(0, 255) : null;
}

/** The file name the metadata gives (filename, or name as some clients send). */
export function fileNameOf(meta: ReadonlyMap<string, string>): string | null {
  const raw = meta.get('filename') ?? meta.get('name');
  return raw ? safeFileName(raw) : null;
}

export function fileTypeOf(meta: ReadonlyMap<string, string>): string | null {
  const type = meta.get('filetype') ?? meta.get('type');
  return type && /^[\w.+-]+\/[\w.+-]+$/.test(type) ? type : null;
}

/** Hex MD5 or SHA-256 claimed by the metadata (hex, or base64 of the digest). */
export function digestOf(meta: ReadonlyMap<string, string>, key: 'md5' | 'sha256'): string | undefined {
  const value = meta.get(key)?.trim();
  if (!value) return undefined;
  const hexLength = key === 'md5' ? 32 : 64;
  if (new RegExp(`^[0-9a-fA-F]{${hexLength}}$`).test(value)) return value.toLowerCase();
  const bytes = BASE64.test(value) ? Buffer.from(value, 'base64') : undefined;
  return bytes && bytes.length * 2 === hexLength ? bytes.toString('hex') : undefined;
}
