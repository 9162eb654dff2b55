/**
 * The interop versions of draft-ietf-httpbis-resumable-upload this server speaks, chosen per
 * request by `Upload-Draft-Interop-Version`, and how they differ:
 *
 *   version  draft  completeness header           append media type          Upload-Limit  errors
 *   3        -01    Upload-Incomplete: ?1 / ?0     any                        no            problem+json
 *   5        -03    Upload-Complete: ?0 / ?1       any                        no            problem+json
 *   6        -04/5  Upload-Complete               application/partial-upload no            problem+json
 *                                                  (or none)
 *   8        -11    Upload-Complete               application/partial-upload yes           RFC 9457 types
 *
 * tus-js-client's `protocol: 'ietf-draft-03'` sends version 5 and 'ietf-draft-05' version 6;
 * Apple's URLSession (iOS 17+) sends 3, 5 or 6 by OS release. Every version also takes
 * Upload-Length (the total, when the creation is not complete), as tus-js-client sends it.
 */
import type { IncomingMessage } from 'node:http';
import { TransferError } from '../../protocol/errors.js';
import { header } from '../tus/request.js';

export type InteropVersion = 3 | 5 | 6 | 8;

export const INTEROP_VERSIONS: readonly InteropVersion[] = [3, 5, 6, 8];

export function interopVersion(req: IncomingMessage): InteropVersion {
  const raw = header(req, 'upload-draft-interop-version')?.trim();
  const n = Number(raw);
  if (!INTEROP_VERSIONS.includes(n as InteropVersion)) {
    throw new TransferError(
      'UNSUPPORTED_VERSION',
      `Upload-Draft-Interop-Version ${raw} is not supported (${INTEROP_VERSIONS.join(', ')} are).`,
    );
  }
  return n as InteropVersion;
}

/** A structured-field boolean (RFC 8941): ?1 or ?0. */
function sfBoolean(value: string | undefined, name: string): boolean | undefined {
  if (value === undefined) return undefined;
  const v = value.trim();
  if (v === '?1') return true;
  if (v === '?0') return false;
  throw new TransferError('INVALID_HEADER', `${name} must be ?1 or ?0.`);
}

/**
 * Whether the request's body completes the upload. Version 3 says it by the absence of
 * Upload-Incomplete: ?1; the others by Upload-Complete, which creation and append must send.
 */
export function requestCompletes(req: IncomingMessage, version: InteropVersion): boolean {
  if (version === 3) return !(sfBoolean(header(req, 'upload-incomplete'), 'Upload-Incomplete') ?? false);
  const complete = sfBoolean(header(req, 'upload-complete'), 'Upload-Complete');
  if (complete === undefined) throw new TransferError('INVALID_HEADER', 'Send Upload-Complete: ?0 or ?1.');
  return complete;
}

/** The completeness header of an answer, as this version spells it. */
export function completeHeader(version: InteropVersion, complete: boolean): [string, string] {
  return version === 3
    ? ['Upload-Incomplete', complete ? '?0' : '?1']
    : ['Upload-Complete', complete ? '?1' : '?0'];
}

/** The media type an append must have in this version (undefined: any). */
export function appendMediaType(version: InteropVersion): string | undefined {
  return version >= 6 ? 'application/partial-upload' : undefined;
}

/** Version 6 tolerates an append without a Content-Type (older clients of that draft sent none). */
export function mediaTypeRequired(version: InteropVersion): boolean {
  return version === 8;
}
