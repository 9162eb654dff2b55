/**
 * Proof of ownership for instant upload (instantUpload 'proof', docs/PROTOCOL.md §Instant upload).
 * Knowing a file's MD5 (or SHA-256) must not be enough to be handed it: a hash is a bearer token
 * (Dropbox "Dropship"). So a handshake for a published file is answered with the needed chunks
 * (a client that cannot prove uploads them, and the server links it once the bytes match) plus a
 * challenge: a fresh nonce and byte ranges of the file chosen at random by the server. A client
 * that holds the file answers POST /api/upload/proof with SHA-256(nonce || the bytes of the ranges
 * in order) and gets the link. This is the spot-checking flavour of Halevi et al., "Proofs of
 * Ownership in Remote Storage Systems" (CCS 2011) (their Merkle-tree scheme over an encoded file
 * also catches a client holding most but not all of it; Aliyun Drive's proof code is a slice at an
 * offset derived from the user's token): a client missing a fraction f of the file passes with
 * probability about (1 - f)^RANGES.
 *
 * A challenge is single-use (gone at the first answer, right or wrong), bound to its requester,
 * file and extension, and expires after CHALLENGE_TTL_MS; at most maxProofChallenges are kept in
 * memory (the oldest are forgotten first, each ~300 bytes). They live in the process that issued
 * them: with several processes (S3 peers), route a client to one process, or it simply uploads.
 */
import { createHash, randomBytes, randomInt, timingSafeEqual } from 'node:crypto';
import { LRUCache } from 'lru-cache';
import type { ProofChallenge } from '../protocol/types.js';
import type { PublishedFile } from '../storage/storage.js';

/** Ranges per challenge, and the bytes of each: what answering costs the server to check (64 KiB). */
export const PROOF_RANGES = 16;
export const PROOF_RANGE_BYTES = 4096;
export const CHALLENGE_TTL_MS = 5 * 60 * 1000;

interface Issued {
  requester: string;
  /** The published file's store key. */
  key: string;
  fileId: string;
  ext: string;
  ranges: [number, number][];
  /** The upload key whose session was opened alongside (removed once proven). */
  uploadKey: string;
}

/** Random ranges [start, end] (inclusive) of a file of `size` bytes, in file order. */
export function challengeRanges(size: number): [number, number][] {
  if (size === 0) return [];
  if (size <= PROOF_RANGES * PROOF_RANGE_BYTES) return [[0, size - 1]];
  const starts = new Set<number>();
  while (starts.size < PROOF_RANGES) starts.add(randomInt(0, size - PROOF_RANGE_BYTES + 1));
  return [...starts].sort((a, b) => a - b).map((s) => [s, s + PROOF_RANGE_BYTES - 1]);
}

/** SHA-256 (hex) over the nonce's UTF-8 bytes then every range's bytes in order: the client's side too. */
export function proofDigest(nonce: string, parts: Iterable<Uint8Array>): string {
  const h = createHash('sha256').update(nonce, 'utf8');
  for (const p of parts) h.update(p);
  return h.digest('hex');
}

export class ProofChallenges {
  private readonly issued: LRUCache<string, Issued>;

  constructor(max: number) {
    this.issued = new LRUCache<string, Issued>({ max, ttl: CHALLENGE_TTL_MS, ttlAutopurge: false });
  }

  issue(file: PublishedFile, requester: string, ext: string, uploadKey: string): ProofChallenge {
    const nonce = randomBytes(24).toString('base64url');
    const ranges = challengeRanges(file.size);
    this.issued.set(nonce, { requester, key: file.key, fileId: file.fileId, ext, ranges, uploadKey });
    return { nonce, ranges, algorithm: 'sha256' };
  }

  /** The challenge of this nonce, forgotten at once (single use); undefined if unknown or expired. */
  take(nonce: string): Issued | undefined {
    const found = this.issued.get(nonce);
    this.issued.delete(nonce);
    return found;
  }

  get size(): number {
    return this.issued.size;
  }
}

/** Constant-time comparison of two hex digests. */
export function sameDigest(a: string, b: string): boolean {
  const x = Buffer.from(a, 'utf8');
  const y = Buffer.from(b, 'utf8');
  return x.length === y.length && timingSafeEqual(x, y);
}
