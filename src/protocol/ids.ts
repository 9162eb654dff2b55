/**
 * Identifier rules from PROTOCOL.md §Identifiers. Every id that reaches a storage key passes
 * through one of these functions first; they return the canonical form or throw TransferError.
 */
import { TransferError } from './errors.js';

const FILE_ID = /^[0-9a-fA-F]{32}$/;
const CHUNK_ID = /^([0-9a-fA-F]{32})([0-9]{0,10})$/;
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
  if (value === undefined || value === null || value === '') throw new TransferError('MISSING_CHUNK_ID');
  const m = typeof value === 'string' ? CHUNK_ID.exec(value) : null;
  if (!m) throw new TransferError('INVALID_CHUNK_ID');
  const id = value.toString().toLowerCase();
  return { id, md5: id.slice(0, 32) };
}

/** An extension: 1–16 of [A-Za-z0-9] after an optional leading dot. Returns it with the dot. */
export function parseExt(value: unknown): string {
  if (value === undefined || value === null || value === '') throw new TransferError('MISSING_EXT');
  const m = typeof value === 'string' ? EXT.exec(value) : null;
  if (!m) throw new TransferError('INVALID_EXT');
  return `.${m[1]}`;
}

/** Splits `<fileId><ext>` (the last path segment of /upload/…) or returns undefined. */
export function parseUploadName(name: string): { fileId: string; ext: string } | undefined {
  const m = /^([0-9a-fA-F]{32})(\.[A-Za-z0-9]{1,16})?$/.exec(name);
  if (!m?.[1]) return undefined;
  return { fileId: m[1].toLowerCase(), ext: m[2] ?? '' };
}

export function isMd5Hex(value: string): boolean {
  return /^[0-9a-f]{32}$/.test(value);
}
