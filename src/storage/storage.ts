/**
 * The one storage interface. The upload service talks only to this; every backend (local disk
 * now, an S3-compatible bucket next) implements it and passes test/storage-conformance.ts.
 *
 * Contract every backend keeps:
 * - Identifiers arrive already validated (src/protocol/ids.ts); a backend never sees raw input.
 *   A `fileId` here is a store key (ids.ts fileKey): the MD5, or `<md5>-<sha16>` for an upload
 *   whose client declared the SHA-256 and for a published MD5 twin.
 * - An upload (one key) holds chunks and one plan per session: each requester's handshake opens
 *   its own session (plan) over the same content-addressed chunks; a plan written before
 *   sessions existed (session null) belongs to nobody. Chunks are content-addressed per upload:
 *   two ids with the same MD5 share bytes, whichever session sent them.
 * - Nothing is ever visible through statFile/openFile before its whole-file MD5 (and the
 *   declared SHA-256) was verified; every published file records its SHA-256.
 * - No state lives only in one process's memory: caches must be rebuildable from the store.
 */
import type { Readable } from 'node:stream';
import type { RangeSource } from '../io/range-source.js';
import type { StreamStore } from './stream-store.js';

export interface UploadPlan {
  /** The upload's store key (the MD5, or `<md5>-<sha16>` when sha256 is declared). */
  fileId: string;
  ext: string;
  /** Chunk ids in file order, as the last handshake sent them (lower-cased). */
  chunkIds: string[];
  size: number | null;
  chunkSize: number | null;
  name: string | null;
  createdAt: number;
  updatedAt: number;
  /**
   * The address of the client whose handshake created the upload (counted against its caps and
   * quota; a re-handshake keeps it). Absent in plans written before it was recorded.
   */
  client?: string | null;
  /**
   * The session this plan belongs to (32 hex digits derived from its requester: core/sessions.ts).
   * Absent or null: a plan written before sessions existed, usable by any requester.
   */
  session?: string | null;
  /** The requester that opened the session (a principal or a client address). */
  owner?: string | null;
  /** The whole file's SHA-256 as the client declared it (then part of the key), or null. */
  sha256?: string | null;
  /**
   * A deferred upload (core/deferred.ts): its key is a provisional upload id, not an MD5; the
   * fileId (and the chunk ids, if the handshake left them out) come with its commit, and no chunk
   * answer assembles it. Absent: an ordinary upload.
   */
  deferred?: boolean;
}

/**
 * Where a chunk's bytes belong when the plan fixes the layout (it declared size and chunkSize):
 * chunk `index` covers bytes offset..offset+length-1 of the file. A backend MAY write the bytes
 * straight there (the local disk does, saving the second write of assembly; the S3 backend
 * streams them into a multipart part, s3/part-uploads.ts) or ignore it.
 */
export interface ChunkTarget {
  fileId: string;
  index: number;
  offset: number;
  length: number;
  /** The plan's layout, which the placement is only valid for. */
  size: number;
  chunkSize: number;
  /**
   * The plan the target was placed by (plan.chunkIds[index] names the chunk); the core always
   * sets it. Without it, a backend that needs it (S3 parts) stages a plain chunk.
   */
  plan?: UploadPlan;
}

/** Chunk bytes written to a temporary place, hashed, and not yet part of any upload. */
export interface StagedChunk {
  readonly md5: string;
  readonly size: number;
}

export interface PublishedFile {
  /** The MD5 of the file. */
  fileId: string;
  /** Where it is published (ids.ts fileKey): the MD5, or `<md5>-<sha16>` for a twin. */
  key: string;
  /** Its SHA-256, computed while it was assembled; null for files published before it was recorded. */
  sha256: string | null;
  size: number;
  /** Publication time; served as Last-Modified. */
  mtime: Date;
  /** Original name from the handshake, if the client sent one. */
  name: string | null;
  /** Extension of the upload that published it (links may use any other). */
  ext: string | null;
}

export interface OpenedFile {
  source: RangeSource;
  file: PublishedFile;
}

/** The headers a store serving a file itself is asked to answer with (Storage.directUrl). */
export interface DirectResponse {
  contentType: string;
  contentDisposition: string;
  cacheControl: string;
}

export interface UploadSummary {
  fileId: string;
  /** Last time a plan or chunk of this upload was written (ms since epoch). */
  lastActivity: number;
}

/** What the store's file system has room for (StorageSpace.space). */
export interface SpaceInfo {
  /** Bytes an unprivileged writer can still use. */
  free: number;
  /** Size of the file system. */
  total: number;
}

export interface AssembleOptions {
  /** Chunk MD5s in file order (may repeat). */
  md5s: readonly string[];
  expectedSize: number | null;
  name: string | null;
  ext: string;
  /** The SHA-256 the client declared: verified (FILE_SHA256_MISMATCH) when given. */
  sha256?: string | null;
  /**
   * The upload's link will carry the file's SHA-256 (instant upload 'proof'/'off'): a file
   * published before SHA-256s were recorded is never the result, as if a SHA-256 were declared
   * (publication.ts: a copy is published under the twin key, recording it).
   */
  needsSha256?: boolean;
  /**
   * The MD5 the file must hash to when the upload's key does not say it (a deferred upload's key is
   * a provisional id: core/deferred.ts). Default: the key's MD5 (publication.ts expectedMd5).
   */
  md5?: string;
}

export interface Storage {
  /** Whether stageChunk writes to a ChunkTarget (core/chunk-placement.ts only looks one up if so). */
  readonly placesChunks: boolean;
  /**
   * The chunk size this backend takes best, if it has one, told to clients in /api/version
   * (PROTOCOL.md §Server limits): S3's, a chunk that can be a multipart part as it is.
   */
  readonly preferredChunkSize?: number;
  /** Creates what is missing and removes leftovers of a crash (stray temp data). */
  init(): Promise<void>;
  close(): Promise<void>;

  /** The plan of one session of the upload (session null or absent: the plan from before sessions). */
  readPlan(fileId: string, session?: string | null): Promise<UploadPlan | undefined>;
  /** Atomically replaces the plan of plan.session (durable before it resolves). */
  writePlan(plan: UploadPlan): Promise<void>;
  /** Every plan of the upload (each session's, and the one from before sessions if any). */
  listPlans(fileId: string): Promise<UploadPlan[]>;
  /** Deletes one session's plan; the chunks stay (removeUpload takes everything). */
  removePlan(fileId: string, session: string | null): Promise<void>;
  /**
   * Deletes these chunks of the upload wherever it holds them (a plain chunk, a region of its data
   * file, a part), and nothing else: the plans stay, and an MD5 it does not hold is no error. For a
   * plan that can never make its file, and a session's chunks no other plan lists
   * (core/drop-plan.ts). A backend whose running hash of the file covered a listed chunk (S3's
   * parts: the fold cannot take one chunk out) drops everything that hash covered with it.
   */
  removeChunks(fileId: string, md5s: readonly string[]): Promise<void>;

  /**
   * Streams `body` to a temporary place while computing its MD5. Rejects with CHUNK_TOO_LARGE as
   * soon as more than maxBytes arrive (nothing kept), INSUFFICIENT_STORAGE when out of space.
   * With a target, the bytes may go to their place in the file instead; the chunk is still held
   * only once committed, and a staged chunk that cannot stay there is kept as a plain chunk, or
   * refused (CHUNK_MD5_MISMATCH) by a backend that sent the bytes on as they came (S3 parts):
   * bytes that are not the target's chunk are refused by the chunk receipt anyway.
   */
  stageChunk(body: Readable, maxBytes: number, target?: ChunkTarget): Promise<StagedChunk>;
  /** Makes a staged chunk held by the upload (durably). Resolves false if it already was. */
  commitChunk(staged: StagedChunk, fileId: string): Promise<boolean>;
  discardChunk(staged: StagedChunk): Promise<void>;
  /**
   * MD5 → size of every chunk the upload holds. With `committed`, a chunk the caller has just
   * committed: the answer need be no older than that commit, so a backend may answer from what
   * the commit learnt (S3: the parts.json it wrote) instead of reading again.
   */
  heldChunks(fileId: string, committed?: StagedChunk): Promise<ReadonlyMap<string, number>>;

  /**
   * Concatenates the chunks, verifies the whole-file MD5 (expectedMd5 in publication.ts: the key's
   * MD5, or options.md5; else FILE_MD5_MISMATCH), the size (SIZE_MISMATCH) and the declared
   * SHA-256 if any (FILE_SHA256_MISMATCH), computing the SHA-256 in the same pass, then publishes
   * atomically under that MD5 (where: publicationOf in publication.ts) and removes the upload. The bytes are verified even when a file with this MD5 is published
   * already: a matching upload then resolves with that file (nothing written), a twin (same MD5,
   * another SHA-256, declared) is published under `<md5>-<sha16>`. A chunk of `options.md5s`
   * found gone (the upload removed since the caller saw every chunk held: by an assembly that
   * published it, an abandon, an operator) rejects UPLOAD_NOT_FOUND, never a 500.
   */
  assemble(fileId: string, options: AssembleOptions): Promise<PublishedFile>;
  statFile(fileId: string): Promise<PublishedFile | undefined>;
  /**
   * Opens a published file for reading, with what statFile would say about it (one lookup per
   * response); one source serves the whole response.
   */
  openFile(fileId: string): Promise<OpenedFile | undefined>;

  /**
   * Where a client may fetch a published file's bytes from the store itself (a presigned URL),
   * for that one method, answered with `response`'s headers; undefined when this process serves
   * them (the local disk; S3 without `redirect`). The caller asks only once the request passed
   * every check a download of the file passes: the URL is as good as the bytes until it expires.
   */
  directUrl?(
    file: PublishedFile,
    method: 'GET' | 'HEAD',
    response: DirectResponse,
  ): Promise<string | undefined>;

  /** Deletes an incomplete upload (plan and chunks). Published files are untouched. */
  removeUpload(fileId: string): Promise<void>;
  listUploads(): AsyncIterable<UploadSummary>;
  /** Deletes temporary data older than the given age that no running request owns. */
  sweepTemp(olderThanMs: number): Promise<number>;

  /**
   * Free space where uploads are written (statfs), for the free-space reserve; a backend without
   * a disk of its own (a bucket) leaves it out and the reserve does not apply.
   */
  space?(): Promise<SpaceInfo>;
  /** Published files with their publication time, for the optional expiry of published files. */
  listFiles?(): AsyncIterable<{ fileId: string; publishedAt: number }>;
  /** Deletes a published file (the expiry of published files); resolves whether it was there. */
  removeFile?(fileId: string): Promise<boolean>;

  /** Byte-stream uploads (tus, IETF resumable uploads): stream-store.ts. */
  readonly streams: StreamStore;
}
