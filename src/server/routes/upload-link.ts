/**
 * The name of a published upload in its link (/upload/<name>), under the instant-upload policy
 * (docs/security.md §Links, PROTOCOL.md §Links):
 * - 'open' (the seed's behaviour): `<md5><ext>`, `<md5>-<sha16><ext>` for an MD5 twin. Anyone who
 *   knows the MD5 can form it, as anyone naming the MD5 is answered it by a handshake anyway.
 * - 'proof' and 'off': `<md5>-<sha32><ext>`, the first 128 bits of the file's SHA-256 as a
 *   capability. A handshake naming the MD5 no longer answers the link, so the link must not be
 *   derivable from the MD5 either: only a holder of the bytes (who hashes them) or of a link the
 *   server handed out can form it. It needs no secret, so every process over one bucket accepts
 *   every other's links, and a restart changes nothing; it is checked in constant time against
 *   the SHA-256 the file recorded when it was published.
 * Without a valid capability /upload/ answers 404 NOT_FOUND under 'proof' and 'off', as for a
 * missing file.
 */
import { timingSafeEqual } from 'node:crypto';
import type { InstantUploadPolicy } from '../../core/context.js';
import { LINK_SHA_HEX, type UploadName } from '../../protocol/ids.js';
import type { OpenedFile, PublishedFile, Storage } from '../../storage/storage.js';

/** What a link names: a published file's key, and its SHA-256 when recorded. */
export type LinkedFile = Pick<PublishedFile, 'key' | 'sha256'>;

/**
 * The link name of a published file; null when the policy needs a capability and the file has
 * no recorded SHA-256 (published before they were recorded: it has no link under 'proof'/'off').
 */
export function uploadLinkName(policy: InstantUploadPolicy, file: LinkedFile, ext: string): string | null {
  if (policy === 'open') return `${file.key}${ext}`;
  if (!file.sha256) return null;
  return `${file.key.slice(0, 32)}-${file.sha256.slice(0, LINK_SHA_HEX)}${ext}`;
}

/** Whether the file's recorded SHA-256 starts with the link's digits (constant time for a capability). */
function carries(file: PublishedFile, name: UploadName): boolean {
  const { sha } = name;
  if (sha === null) return true;
  if (!file.sha256) return false;
  if (!name.capability) return file.sha256.startsWith(sha);
  return timingSafeEqual(Buffer.from(file.sha256.slice(0, LINK_SHA_HEX)), Buffer.from(sha));
}

/**
 * The published file a link names, opened, or undefined (404). Under 'proof' and 'off' only a
 * capability link names anything. A link with SHA-256 digits names the file with that SHA-256:
 * the file under the MD5 or the twin published under `<md5>-<sha16>`. Never other bytes than
 * those named.
 */
export async function openLinked(
  storage: Storage,
  policy: InstantUploadPolicy,
  name: UploadName,
): Promise<OpenedFile | undefined> {
  if (policy !== 'open' && !name.capability) return undefined;
  // A capability most often names the file under its MD5 (twins are rare): one lookup on the hot
  // path. A twin's plain link names the twin first, as it always did.
  const keys =
    name.sha === null ? [name.fileId] : name.capability ? [name.fileId, name.key] : [name.key, name.fileId];
  for (const key of keys) {
    const opened = await storage.openFile(key);
    if (opened && carries(opened.file, name)) return opened;
    await opened?.source.close();
  }
  return undefined;
}
