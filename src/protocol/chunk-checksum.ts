/**
 * Chunk checksums (PROTOCOL.md §Chunk checksums), an extension of deferred uploads for our own
 * clients: a chunk is sent with its index and a fast checksum of its bytes instead of an id made
 * of its MD5, so the client never computes the chunk MD5s (one pass of MD5 over the file less);
 * the server computes each chunk's MD5 as it streams in, answers the id it made, and refuses a
 * chunk whose bytes do not make the checksum. The whole file's MD5 still names the file.
 *
 * xxh64 (XXH64, seed 0, its 64-bit value as 16 hex digits, big-endian as xxhsum prints it):
 * hash-wasm's hashed 2.5 GB/s on one core of the bench machine, where Node's MD5 hashed 417 MB/s, and both ends
 * already carry hash-wasm. It guards against corruption on the way, not against an adversary,
 * which is the MD5 check's job at assembly (and the SHA-256's).
 */
import { TransferError } from './errors.js';

/** The name /api/version lists among its `extensions`. */
export const CHUNK_CHECKSUM = 'chunk-checksum';

/** The algorithms a server takes, in /api/version's `chunkChecksums`. */
export const CHUNK_CHECKSUM_ALGORITHMS = ['xxh64'] as const;
export type ChunkChecksumAlgorithm = (typeof CHUNK_CHECKSUM_ALGORITHMS)[number];

export interface ChunkChecksum {
  algorithm: ChunkChecksumAlgorithm;
  /** Lower-case hex. */
  digest: string;
}

const DIGEST_DIGITS: Record<ChunkChecksumAlgorithm, number> = { xxh64: 16 };

function isAlgorithm(value: unknown): value is ChunkChecksumAlgorithm {
  return typeof value === 'string' && (CHUNK_CHECKSUM_ALGORITHMS as readonly string[]).includes(value);
}

/**
 * A deferred handshake's `checksum` field: absent (chunks are named by their MD5 ids), or an
 * algorithm this server takes; anything else is 400 INVALID_FIELD.
 */
export function parseChecksumAlgorithm(value: unknown): ChunkChecksumAlgorithm | undefined {
  if (value === undefined || value === null) return undefined;
  if (!isAlgorithm(value)) {
    throw new TransferError(
      'INVALID_FIELD',
      `checksum must be one of ${CHUNK_CHECKSUM_ALGORITHMS.join(', ')} (GET /api/version lists them).`,
    );
  }
  return value;
}

/** A chunk's `checksum`: `<algorithm>:<hex digest>`, e.g. `xxh64:44bc2cf5ad770999`. */
export function parseChunkChecksum(value: unknown): ChunkChecksum {
  const m = typeof value === 'string' ? /^([a-z0-9]{1,16}):([0-9a-fA-F]{1,128})$/.exec(value) : null;
  if (!m) {
    throw new TransferError('INVALID_FIELD', 'checksum must be "<algorithm>:<hex digest>", e.g. xxh64:…');
  }
  const algorithm = m[1]!;
  const digest = m[2]!.toLowerCase();
  if (!isAlgorithm(algorithm)) {
    throw new TransferError(
      'INVALID_FIELD',
      `checksum algorithm ${algorithm} is not taken (${CHUNK_CHECKSUM_ALGORITHMS.join(', ')} are).`,
    );
  }
  if (digest.length !== DIGEST_DIGITS[algorithm]) {
    throw new TransferError(
      'INVALID_FIELD',
      `An ${algorithm} checksum is ${DIGEST_DIGITS[algorithm]} hex digits.`,
    );
  }
  return { algorithm, digest };
}

export function formatChunkChecksum({ algorithm, digest }: ChunkChecksum): string {
  return `${algorithm}:${digest}`;
}

/** A chunk's `chunkIndex`: a whole number, as decimal digits (its place in the layout is checked by the core). */
export function parseChunkIndex(value: unknown): number {
  if (typeof value !== 'string' || !/^(0|[1-9][0-9]{0,8})$/.test(value)) {
    throw new TransferError('INVALID_FIELD', 'chunkIndex must be a whole number (0 for the first chunk).');
  }
  return Number(value);
}
