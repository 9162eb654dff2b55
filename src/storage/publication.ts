/**
 * Where an assembled, verified file is published, the same rule for every backend (storage.ts
 * §assemble). The MD5 names files in the seed protocol, but MD5 collisions cost seconds, so the
 * SHA-256 decides whether two uploads with one MD5 are the same file:
 * - nothing published under the MD5 yet: publish there (and record the SHA-256);
 * - the file there has the same SHA-256: that file is the result (nothing is written);
 * - the file there predates recorded SHA-256s and the upload declared none: that file (nothing
 *   tells them apart; a declared SHA-256 publishes a copy under its twin key instead);
 * - otherwise (a twin: same MD5, other bytes): `<md5>-<sha16>`, unless that file is there already
 *   with this SHA-256. An MD5-only client is answered that key's url too, but the seed's client
 *   builds its link from the MD5 itself: it is served the first file (docs/PROTOCOL.md).
 */
import { fileKey, md5OfKey } from '../protocol/ids.js';
import type { AssembleOptions, PublishedFile } from './storage.js';

/**
 * The MD5 the assembled file must hash to (else FILE_MD5_MISMATCH), and the one it is published
 * under: options.md5 when the assembly names it (a deferred upload's commit: its key is a
 * provisional id, core/deferred.ts), else the upload key's. Every backend's every path asks here.
 */
export function expectedMd5(fileId: string, options: Pick<AssembleOptions, 'md5'>): string {
  return options.md5 ?? md5OfKey(fileId);
}

export type Publication = { kind: 'existing'; file: PublishedFile } | { kind: 'publish'; key: string };

export async function publicationOf(
  md5: string,
  sha256: string,
  declared: boolean,
  stat: (key: string) => Promise<PublishedFile | undefined>,
): Promise<Publication> {
  const first = await stat(md5);
  if (!first) return { kind: 'publish', key: md5 };
  if (first.sha256 === sha256 || (first.sha256 === null && !declared))
    return { kind: 'existing', file: first };
  const key = fileKey(md5, sha256);
  const twin = await stat(key);
  if (twin?.sha256 === sha256) return { kind: 'existing', file: twin };
  return { kind: 'publish', key };
}
