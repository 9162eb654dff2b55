/**
 * Byte-stream uploads (tus 1.0, the IETF resumable-upload drafts): an upload grows by appends at
 * its current offset, and when it is whole its bytes are published like any other upload, under
 * their MD5 (files/<md5>). Every backend keeps them behind this interface (Storage.streams), beside
 * the seed protocol's chunk plans, and passes test/storage-conformance.ts' stream cases.
 *
 * Contract every backend keeps:
 * - A record is the whole truth about an upload: bytes beyond its offset mean nothing (an append
 *   cut by a crash, a refused checksum) and are cut or ignored. A record is replaced only after the
 *   bytes it counts are durable.
 * - Ids arrive validated (core/stream-ids.ts): unguessable base64url strings, never raw input.
 * - Two appends to one upload never both count: the second commit to the same record fails with
 *   STREAM_CONFLICT (compare-and-swap in the store; a backend written by one process may rely on
 *   that process's lock, see core/stream-locks.ts).
 */
import type { PublishedFile } from './storage.js';

/** A stream upload id: 144 random bits in base64url (core/stream-ids.ts makes them). */
export const STREAM_ID = /^[A-Za-z0-9_-]{24}$/;

export function isStreamId(value: string): boolean {
  return STREAM_ID.test(value);
}

/** How a tus upload takes part in concatenation (the tus `concatenation` extension). */
export type StreamConcat = null | { kind: 'partial' } | { kind: 'final'; parts: string[] };

/** Where a completed upload's bytes went. */
export interface StreamDone {
  /** The MD5 of the bytes: the published file's id. */
  fileId: string;
  /** The extension of its link (/upload/<fileId><ext> or its capability form), '' when the name had none. */
  ext: string;
  /** When the upload completed (ms). */
  at: number;
  /**
   * The published file's SHA-256, for its capability link under instant upload 'proof'/'off'
   * (server/routes/upload-link.ts). Absent in records written before it was kept, and for a file
   * published before SHA-256s were recorded.
   */
  sha256?: string;
}

/** An upload's durable state, as JSON. */
export interface StreamRecord {
  id: string;
  /** The protocol that created it ('tus', or 'ietf-<interop version>'). */
  protocol: string;
  /** Declared length; null while deferred (tus creation-defer-length, IETF without a length). */
  length: number | null;
  /** Bytes received and durable. */
  offset: number;
  /** The Upload-Metadata header as received (tus), echoed on HEAD. */
  metadata: string | null;
  /** The file name and type from the metadata (published name, Content-Disposition). */
  name: string | null;
  type: string | null;
  /** The creating client's key (core/usage.ts clientKey): its caps and quota. */
  client: string;
  createdAt: number;
  updatedAt: number;
  /** After this the upload is gone (410), whatever its state (ms since epoch). */
  expiresAt: number;
  concat: StreamConcat;
  /** The MD5 folded over bytes 0..offset-1 (hash-wasm state, base64); null before the first byte. */
  md5State: string | null;
  /**
   * The SHA-256 folded over bytes 0..offset-1 beside the MD5 (native/sha256.c's saved form,
   * base64); null before the first byte. Absent when the bytes were not all folded into one (a
   * record written before these states were kept, a process without the addon): the SHA-256 is
   * then read back from the bytes at completion, and later appends fold none. A state that
   * covers fewer bytes than `offset` (appends by a version that keeps it as it was) counts as
   * absent.
   */
  sha256State?: string | null;
  /** Set once the bytes are published (or deduplicated): the upload is complete. */
  done: StreamDone | null;
  /**
   * Backend data (the S3 backend's list of part objects). Opaque to the core, kept by it when it
   * replaces the record.
   */
  store?: unknown;
  /**
   * The version of the record as read (the S3 ETag), for the compare-and-swap of the next write;
   * set by readStream, never stored.
   */
  version?: string | undefined;
}

/** Bytes written beyond a record's offset, not yet counted: commit() makes them count. */
export interface StreamAppend {
  /** Bytes written (and handed to onBytes, in order). */
  readonly bytes: number;
  /** The body ended before its end (the client went): what arrived is still written. */
  readonly cut: boolean;
  /**
   * Makes the bytes count: replaces the record (whose offset says so) durably, after the bytes
   * are. STREAM_CONFLICT if the record changed since the append began.
   */
  commit(next: StreamRecord): Promise<void>;
  /** Drops the bytes; the record stays as it was. */
  discard(): Promise<void>;
}

export interface AppendOptions {
  /** Most bytes the append may take. */
  maxBytes: number;
  /** The error to fail with past maxBytes (nothing counts then). */
  tooMany: () => Error;
  /**
   * Sees every byte written, in order, before the append resolves. A promise it answers asks the
   * store to wait for it before it reads more of the body (the hash fold is behind).
   */
  onBytes(buf: Buffer): undefined | Promise<void>;
}

export interface StreamSummary {
  id: string;
  /** Last write to the upload (ms since epoch). */
  lastActivity: number;
}

/** The published file to make from one or more complete uploads' bytes, in order. */
export interface StreamPublish {
  fileId: string;
  size: number;
  name: string | null;
  ext: string;
  /**
   * The SHA-256 of the bytes (the core folded it or read it back), recorded with the published
   * file like every other's (storage.ts: every published file records its SHA-256).
   */
  sha256: string;
}

export interface StreamStore {
  /** Creates the upload with no bytes (durable before it resolves). */
  create(record: StreamRecord): Promise<void>;
  read(id: string): Promise<StreamRecord | undefined>;
  /** Replaces the record (durably; compare-and-swap against `record.version`: STREAM_CONFLICT). */
  write(record: StreamRecord): Promise<void>;
  /** Streams `body` to the upload at record.offset. Nothing counts until commit(). */
  append(record: StreamRecord, body: AsyncIterable<Buffer>, options: AppendOptions): Promise<StreamAppend>;
  /** The bytes 0..offset-1 of each upload, in order (hashing after a lost fold, concatenation). */
  bytes(records: readonly StreamRecord[]): AsyncIterable<Buffer>;
  /**
   * Publishes the concatenation of the uploads' bytes as files/<fileId> with its metadata and
   * SHA-256 (the caller computed both digests); resolves with the published file. A single upload's bytes are
   * moved, not copied, where the backend can.
   */
  publish(records: readonly StreamRecord[], file: StreamPublish): Promise<PublishedFile>;
  /** Frees an upload's bytes and keeps its record (a completed upload still answers HEAD). */
  dropBytes(id: string): Promise<void>;
  /** Deletes the upload: record and bytes. */
  remove(id: string): Promise<void>;
  list(): AsyncIterable<StreamSummary>;
}
