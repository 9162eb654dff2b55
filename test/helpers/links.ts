/**
 * The /upload/ link the server hands out for some bytes (src/server/routes/upload-link.ts):
 * under instant upload 'open' `<md5><ext>` (`<md5>-<sha16><ext>` for an MD5 twin), under 'proof'
 * and 'off' the capability link `<md5>-<sha32><ext>`.
 */
import { md5, sha256 } from './bytes.js';

export function linkOf(
  base: string,
  policy: 'open' | 'proof' | 'off',
  data: Uint8Array,
  ext: string,
  twin = false,
): string {
  const id = md5(data);
  const sha = sha256(data);
  if (policy !== 'open') return `${base}/upload/${id}-${sha.slice(0, 32)}${ext}`;
  return `${base}/upload/${twin ? `${id}-${sha.slice(0, 16)}` : id}${ext}`;
}
