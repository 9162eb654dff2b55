/**
 * The server's side of chunk checksums (PROTOCOL.md §Chunk checksums): a chunk named by its index
 * and checksum is hashed with that checksum while it streams to storage (which computes its MD5
 * as for any chunk), and its id is then made from that MD5 and the index, the form a deferred
 * upload's chunk ids take. A chunk whose bytes do not make the checksum is refused (422
 * CHUNK_CHECKSUM_MISMATCH) before anything is filed.
 */
import { pipeline, type Readable, Transform } from 'node:stream';
import { createXXHash64 } from 'hash-wasm';
import { type ChunkChecksum, parseChunkChecksum, parseChunkIndex } from '../../protocol/chunk-checksum.js';
import { TransferError } from '../../protocol/errors.js';

/** What a chunk request names instead of its chunkId. */
export interface ChecksumRef {
  index: number;
  checksum: ChunkChecksum;
}

/**
 * The request's chunk reference: undefined when it names a chunkId (the seed's form); a
 * checksum reference when it names `checksum` (and `chunkIndex`). Both forms at once, or one
 * half of the checksum form: 400.
 */
export function checksumRefOf(fields: {
  chunkId: string | undefined;
  chunkIndex: string | undefined;
  checksum: string | undefined;
}): ChecksumRef | undefined {
  const { chunkId, chunkIndex, checksum } = fields;
  if (chunkIndex === undefined && checksum === undefined) return undefined;
  if (chunkId !== undefined) {
    throw new TransferError('INVALID_FIELD', 'A chunk names either chunkId, or chunkIndex and checksum.');
  }
  if (chunkIndex === undefined || checksum === undefined) {
    throw new TransferError('INVALID_FIELD', 'A chunk sent with its checksum names chunkIndex and checksum.');
  }
  return { index: parseChunkIndex(chunkIndex), checksum: parseChunkChecksum(checksum) };
}

/** A body that hashes what passes through it; `digest()` once it ended. */
export interface ChecksummedBody {
  body: Readable;
  /** The checksum's digest of every byte that passed (lower-case hex). */
  digest(): string;
}

/**
 * Passes `body` through the checksum of `ref` (xxh64 on hash-wasm at 2.5 GB/s: ~3 ms of the loop per 8 MiB,
 * in the pieces the socket gives). An error of `body` destroys what it returns, so the staging
 * that reads it fails as it would on the body itself.
 */
export async function checksummed(body: Readable, _ref: ChecksumRef): Promise<ChecksummedBody> {
  // The only algorithm (CHUNK_CHECKSUM_ALGORITHMS); a second one would choose its hasher here.
  const hasher = await createXXHash64();
  hasher.init();
  const through = new Transform({
    transform(piece: Buffer, _encoding, done) {
      hasher.update(piece);
      done(null, piece);
    },
  });
  pipeline(body, through, () => undefined);
  return { body: through, digest: () => hasher.digest('hex') };
}

/** The staged bytes against the checksum named: 422 CHUNK_CHECKSUM_MISMATCH when they differ. */
export function checkChecksum(ref: ChecksumRef, body: ChecksummedBody): void {
  if (body.digest() !== ref.checksum.digest) throw new TransferError('CHUNK_CHECKSUM_MISMATCH');
}

/** The id the server gives a chunk sent with its checksum: its MD5, then its index (the seed's form). */
export function chunkIdOf(md5: string, ref: ChecksumRef): string {
  return `${md5}${ref.index}`;
}
