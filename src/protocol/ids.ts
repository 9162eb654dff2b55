/**
 * Identifier rules from PROTOCOL.md §Identifiers. Every id that reaches a storage key passes
 * through one of these functions first; they return the canonical form or throw TransferError.
 */
import { TransferError } from './errors.js';

const FILE_ID = /^[0-9a-fA-F]{32}$/;
const CHUNK_ID = /^[0-9a-f]{32}[0-9]{0,10}$/i;
/** CHUNK_ID in its canonical form (lower-case hex), as our clients and the course's send ids. */
const CANONICAL_CHUNK_ID = new RegExp(CHUNK_ID.source);
const EXT = /^\.?([A-Za-z0-9]{1,16})$/;

/** A file id: the whole file's MD5 as 32 hex digits. Returns it lower-cased. */
export function parseFileId(value: unknown): string {
  if (value === undefined || value === null || value === '') throw new TransferError('MISSING_FILE_ID');
  if (typeof value !== 'string' || !FILE_ID.test(value)) throw new TransferError('INVALID_FILE_ID');
  return value.toLowerCase();
}

export interface ChunkId {
  /** The id as the client sent it, lower-cased (the MD5 plus the optional index digits). */
  id: string;
  /** The chunk's MD5, 32 lowercase hex digits. */
  md5: string;
}

/** A chunk id: the chunk's MD5 as 32 hex digits, optionally followed by up to 10 decimal digits. */
export function parseChunkId(value: unknown): ChunkId {
  const id = canonicalChunkId(value);
  return { id, md5: id.slice(0, 32) };
}

/**
 * parseChunkId's check and errors, answering the id alone (lower-cased): what a list of 100,000
 * ids is checked with (core/id-lists.ts), no object per id, an id already lower-case kept as it is.
 */
export function canonicalChunkId(value: unknown): string {
  if (typeof value === 'string') {
    if (CANONICAL_CHUNK_ID.test(value)) return value;
    if (CHUNK_ID.test(value)) return value.toLowerCase();
  }
  if (value === undefined || value === null || value === '') throw new TransferError('MISSING_CHUNK_ID');
  throw new TransferError('INVALID_CHUNK_ID');
}

/** The index a chunk id carries after its MD5 (the seed's `md5 + index`), if it carries one. */
export function chunkIndexOf(id: string): number | undefined {
  const digits = id.slice(32);
  return digits === '' ? undefined : Number(digits);
}

/** An extension: 1–16 of [A-Za-z0-9] after an optional leading dot. Returns it with the dot. */
export function parseExt(value: unknown): string {
  if (value === undefined || value === null || value === '') throw new TransferError('MISSING_EXT');
  const m = typeof value === 'string' ? EXT.exec(value) : null;
  if (!m) throw new TransferError('INVALID_EXT');
  return `.${m[1]}`;
}

/** Hex digits of the SHA-256 a capability link carries (128 bits: PROTOCOL.md §Links). */
export const LINK_SHA_HEX = 32;

export interface UploadName {
  /** The MD5. */
  fileId: string;
  /** The store key it names first: the MD5, or `<md5>-<sha16>` (a twin, or a capability's prefix). */
  key: string;
  /** The SHA-256 digits of the link (16 of a twin's plain link, 32 of a capability link), or null. */
  sha: string | null;
  /** Whether the link carries a capability (LINK_SHA_HEX digits of the file's SHA-256). */
  capability: boolean;
  ext: string;
}

/**
 * Splits the last path segment of /upload/…: `<fileId><ext>`, `<fileId>-<sha16><ext>` (an MD5
 * twin's plain link) or `<fileId>-<sha32><ext>` (a capability link), or returns undefined. `key`
 * is the store key to look at first (fileKey): the MD5, or the MD5 and the first 16 hex digits of
 * the SHA-256 (PROTOCOL.md §Identifiers, §Links).
 */
export function parseUploadName(name: string): UploadName | undefined {
  const m = /^([0-9a-fA-F]{32})(?:-([0-9a-fA-F]{16}|[0-9a-fA-F]{32}))?(\.[A-Za-z0-9]{1,16})?$/.exec(name);
  if (!m?.[1]) return undefined;
  const fileId = m[1].toLowerCase();
  const sha = m[2]?.toLowerCase() ?? null;
  return {
    fileId,
    key: fileKey(fileId, sha),
    sha,
    capability: sha?.length === LINK_SHA_HEX,
    ext: m[3] ?? '',
  };
}

export function isMd5Hex(value: string): boolean {
  return /^[0-9a-f]{32}$/.test(value);
}

const SHA256 = /^[0-9a-fA-F]{64}$/;

/** An optional whole-file SHA-256 (64 hex digits, extension field `sha256`); lower-cased, or null. */
export function parseSha256(value: unknown): string | null {
  if (value === undefined || value === null || value === '') return null;
  if (typeof value !== 'string' || !SHA256.test(value)) {
    throw new TransferError('INVALID_FIELD', 'sha256 must be 64 hex digits.');
  }
  return value.toLowerCase();
}

/**
 * The store key of an upload or a published file: the MD5 alone, or `<md5>-<first 16 hex of the
 * SHA-256>` when the SHA-256 is part of the identity (uploads of clients that declared it, and
 * published MD5 twins). Only ever built from validated digests.
 */
export function fileKey(md5: string, sha: string | null): string {
  return sha ? `${md5}-${sha.slice(0, 16)}` : md5;
}

/** Whether a name is a store key (fileKey's output): what a backend lists back from its store. */
export function isFileKey(value: string): boolean {
  return /^[0-9a-f]{32}(?:-[0-9a-f]{16})?$/.test(value);
}

/** The MD5 (fileId) of a store key. */
export function md5OfKey(key: string): string {
  return key.slice(0, 32);
}

/**
 * The upload key a request names: `fileId` alone, or with the `sha256` extension field/parameter
 * (PROTOCOL.md §Identifiers) `<fileId>-<sha16>`. Raw values in, raw value out when either is not
 * well-formed (the core validates fileId; a malformed sha256 is refused by parseSha256).
 */
export function requestKey(fileId: unknown, sha256: unknown): unknown {
  if (typeof fileId !== 'string' || !FILE_ID.test(fileId)) return fileId;
  if (typeof sha256 !== 'string' || !SHA256.test(sha256)) return fileId;
  return fileKey(fileId.toLowerCase(), sha256.toLowerCase());
}

/**
 * The fileId (MD5) a raw key names: `<fileId>-<sha16>` loses its SHA-256 part, anything else is
 * returned as it is. What access control is asked about: a token names a file by its MD5.
 */
export function fileIdOfKey(value: unknown): unknown {
  return typeof value === 'string' && /^[0-9a-fA-F]{32}-[0-9a-fA-F]{16}$/.test(value)
    ? value.slice(0, 32)
    : value;
}

/** An upload or file key from the wire (state, DELETE): `<fileId>` or `<fileId>-<sha16>`. */
export function parseFileKey(value: unknown): string {
  if (typeof value === 'string' && /^[0-9a-fA-F]{32}-[0-9a-fA-F]{16}$/.test(value))
    return value.toLowerCase();
  return parseFileId(value);
}
