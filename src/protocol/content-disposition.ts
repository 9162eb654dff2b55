/**
 * Content-Disposition with both an ASCII `filename` and an RFC 8187 `filename*`.
 *
 * Hand-written: the `content-disposition` package leaves out `filename*` for ASCII names and
 * imports node:path, so it can neither keep our promise of both parameters on every download
 * nor run in the browser build, where the client parses the header to name the saved file.
 */

function asciiFallback(name: string): string {
  // Printable ASCII except the quote and backslash; everything else becomes '_'.
  const out = name.replace(/[^\x20-\x7e]|["\\]/g, '_');
  return out.trim() === '' ? 'download' : out;
}

function encodeRfc8187(value: string): string {
  return encodeURIComponent(value).replace(
    /['()*]/g,
    (c) => `%${c.charCodeAt(0).toString(16).toUpperCase()}`,
  );
}

export function formatContentDisposition(type: 'attachment' | 'inline', name: string): string {
  // Never let a CR, LF or other control character reach the header: both forms encode them.
  return `${type}; filename="${asciiFallback(name)}"; filename*=UTF-8''${encodeRfc8187(name)}`;
}

/** The file name a Content-Disposition header carries (filename* preferred), or undefined. */
export function parseContentDispositionName(header: string | null | undefined): string | undefined {
  if (!header) return undefined;
  const star = /filename\*\s*=\s*([^']*)'[^']*'([^;]+)/i.exec(header);
  if (star?.[2]) {
    try {
      const charset = (star[1] ?? '').toLowerCase();
      if (charset === 'utf-8' || charset === '') return decodeURIComponent(star[2].trim());
    } catch {
      // fall through to the plain parameter
    }
  }
  const quoted = /filename\s*=\s*"((?:[^"\\]|\\.)*)"/i.exec(header);
  if (quoted?.[1] !== undefined) return quoted[1].replace(/\\(.)/g, '$1');
  const token = /filename\s*=\s*([^;\s]+)/i.exec(header);
  return token?.[1];
}

/** Reduces a server-supplied name to a safe single path segment for saving. */
export function safeFileName(name: string | undefined, fallback = 'download'): string {
  const base = (name ?? '').split(/[/\\]/).pop() ?? '';
  // biome-ignore lint/suspicious/noControlCharactersInRegex: stripping control characters is the point
  const cleaned = base.replace(/[\x00-\x1f\x7f]/g, '').trim();
  if (cleaned === '' || cleaned === '.' || cleaned === '..') return fallback;
  return cleaned.slice(0, 255);
}
