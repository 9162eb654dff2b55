/**
 * S3-compatible storage backend (AWS S3, Ceph RADOS Gateway, MinIO), for several stateless server
 * processes sharing one bucket. Nothing lives only in a process's memory: every answer is
 * rebuilt from the bucket, so any process can take any request. Start reading here.
 *
 * The bucket layout: every object written, all under `<prefix>` (default `resumable-transfer/`).
 *
 * <key> is a store key (protocol/ids.ts fileKey): the MD5, or `<md5>-<sha16>` for an upload whose
 * client declared the SHA-256 and for a published MD5 twin (storage/publication.ts).
 *
 *   uploads/<key>/sessions/<session>.json
 *                                   One plan per upload session (a requester's handshake; one PUT
 *                                   replaces it atomically: last writer wins). Deleted with its
 *                                   session or the upload. (uploads.ts)
 *   uploads/<key>/plan.json         The plan from before sessions: read, owned by nobody, never
 *                                   written any more.
 *   uploads/<key>/parts.json       The upload's multipart upload when its chunks go straight into
 *                                   parts (part-uploads.ts: a declared SHA-256, chunks ≥ 5 MiB):
 *                                   its id and target key, the layout, and the MD5 and SHA-256
 *                                   folded over chunks 0..next-1, which are its parts, which of
 *                                   them are held, and whether chunk objects may exist. Created
 *                                   with If-None-Match: *, replaced with If-Match. Deleted with
 *                                   the upload (first, then its multipart upload is aborted).
 *   tmp/<ms>-<random>               A chunk being received (chunks.ts stage): its MD5 is computed
 *                                   on the way in, streamed in 5 MiB parts, never whole in memory.
 *                                   Deleted once copied (commit) or refused (discard). A process
 *                                   that dies first leaves it: any process's sweeper deletes it by
 *                                   age, except the keys its own running requests still own.
 *   uploads/<key>/chunks/<md5>      A held chunk (chunks.ts commit): a server-side copy of its tmp
 *                                   object, named by its verified MD5, so two processes committing
 *                                   the same bytes write the same object. Deleted when the file is
 *                                   published, or the upload is abandoned (DELETE) or expires.
 *   files/<key>                     A published file (assembly.ts, part-uploads.ts), visible only
 *                                   once its whole-file MD5 (and declared SHA-256) was verified.
 *                                   Metadata: name (URI-encoded), ext, sha256. Immutable; never
 *                                   deleted by the server. (published.ts reads it; under
 *                                   `redirect`, direct-links.ts presigns GET/HEAD URLs of it)
 *   streams/<id>/...                Byte-stream uploads (tus, IETF): stream-uploads.ts.
 *   (multipart uploads)             To files/<key>: one per upload sent as parts, named by its
 *                                   parts.json, living as long as the upload (no sweeper aborts
 *                                   it; the upload's removal does); and one per assembly. To tmp/:
 *                                   chunks over 5 MiB staged as objects. Aborted on failure, and
 *                                   by any sweeper (sweep.ts) by age when no parts.json names them.
 *
 * After a restart, or from another process, nothing needs recovering: a plan and the chunks
 * under it are the whole state of an upload (the handshake lists them), a staged chunk nobody
 * committed is garbage for the sweeper, and an assembly cut off half way left no visible file
 * (its multipart upload is swept). Processes never lock anything in the bucket: every write is
 * either idempotent (content-addressed chunks, identical published bytes) or last-writer-wins.
 *
 * What each byte of a seed upload costs (N = file size, n = chunks; "in"/"out" = through this
 * process; "copies" = copies made inside the store):
 * - Part path (part-uploads.ts: SHA-256 declared, chunks ≥ 5 MiB, file > 8 MiB, distinct chunks):
 *   a chunk arriving in turn is one UploadPart, streamed as it comes (its bytes in once, out
 *   once, hashed on the way: chunk MD5, whole-file MD5 and SHA-256), plus two small PUTs of
 *   parts.json (the fold moves past it, then the receipt holds it) and the reads of the receipt
 *   (docs/deploy-s3.md §Small requests per chunk); assembly is ListParts and
 *   CompleteMultipartUpload. Total: N in + N out, 0 copies, 0 reads.
 *   A chunk that could not take its turn (it waited waitMs while the fold did not move, or the
 *   chunk the fold waits for is a chunk object) costs what the chunk path below costs, then at
 *   assembly one read (it is folded then) and one UploadPartCopy: its bytes in twice, out once,
 *   two copies (one sent ahead of its turn also cost its UploadPart). A chunk ahead of its turn
 *   is streamed into its part at once and kept in memory (at most one chunk of up to 8 MiB a
 *   process) until the fold reaches it; past that budget chunks wait for their turn, bodies
 *   unread.
 * - Chunk path (everything else: the course client's 1 MiB chunks, MD5-only clients): each chunk
 *   is written once to tmp/ (in + out) and copied to uploads/<key>/chunks/ (one copy); then:
 *   - copy path, when every chunk but the last is at least 5 MiB (S3's minimum part): the chunks
 *     are read once in order to verify the whole-file MD5 (N in), then the file is built by the
 *     store itself with UploadPartCopy, one part per chunk (one more copy), visible only at
 *     CompleteMultipartUpload. Total: 2N in + N out, two copies.
 *   - stream path, otherwise (small chunks): the chunks are read in order and re-uploaded as
 *     8 MiB parts while hashing (N in + N out); the MD5 is checked before
 *     CompleteMultipartUpload, and a mismatch aborts the multipart upload, so nothing appears.
 *     Total: 2N in + 2N out, one copy. Small chunks cannot be parts themselves (S3 refuses parts
 *     under 5 MiB but the last) and the store cannot join objects it holds into larger parts
 *     without a copy, so gathering them costs this one pass through the process.
 *   - files up to 8 MiB are read into memory, verified, then written with one PutObject.
 *   The SHA-256 goes into the object's metadata, set when it is created: on the stream path it
 *   must be known first, so an upload that did not declare it (an MD5-only client) is read once
 *   more before (N in more). A file published under the MD5 already is only read to verify
 *   the upload's bytes (N in), then the upload goes and the file is the answer (publication.ts).
 *   Two processes publishing two MD5 twins at once may both pick files/<md5>: the later wins, and
 *   the earlier one's answer names a file that now holds its twin (docs/PROTOCOL.md §Collisions).
 * Two processes assembling the same file at once both verify and both publish identical bytes
 * under the same key: still exactly one verified object.
 */
import type { Readable } from 'node:stream';
import {
  CreateBucketCommand,
  HeadBucketCommand,
  type S3Client,
  S3ServiceException,
} from '@aws-sdk/client-s3';
import { TransferError } from '../../protocol/errors.js';
import { expectedMd5, type Publication, publicationOf } from '../publication.js';
import type {
  AssembleOptions,
  ChunkTarget,
  DirectResponse,
  OpenedFile,
  PublishedFile,
  StagedChunk,
  Storage,
  UploadPlan,
  UploadSummary,
} from '../storage.js';
import { Assembler, type Digests } from './assembly.js';
import { Bucket } from './bucket.js';
import { Chunks } from './chunks.js';
import { copyCallOptions, createS3Client, type S3ClientOptions } from './client.js';
import { DirectLinks } from './direct-links.js';
import { describeS3Error, mapS3Error, notFound } from './errors.js';
import { KeyLayout } from './keys.js';
import { DEFAULT_REDIRECT_TTL_SECONDS, STREAM_PART } from './limits.js';
import { heldParts, isPartStaged, PART_WAIT_MS, PartUploads } from './part-uploads.js';
import { PublishedFiles } from './published.js';
import { S3Streams } from './stream-uploads.js';
import { sweepTemp } from './sweep.js';
import { Uploads } from './uploads.js';

export interface S3StorageOptions extends S3ClientOptions {
  bucket: string;
  /** Key prefix; default `resumable-transfer/`. */
  prefix?: string | undefined;
  /** Told about a bucket created at start. */
  onBucketCreated?: (bucket: string) => void;
  /** How long a chunk waits for its turn to be folded (part-uploads.ts); default 10 s. */
  partWaitMs?: number | undefined;
  /**
   * `--s3-redirect`: GET and HEAD of a published upload are answered 302 to a presigned URL of
   * its object, so the store serves the bytes (direct-links.ts); default false.
   */
  redirect?: boolean | undefined;
  /** How long a redirect's URL is valid, in seconds; default 300, at most 7 days (SigV4's limit). */
  redirectTtlSeconds?: number | undefined;
  /** The store's address as clients reach it, for the redirect's URLs; default: `endpoint`. */
  publicEndpoint?: string | undefined;
}

export class S3Storage implements Storage {
  /** A chunk with a target may go straight into its multipart part (part-uploads.ts). */
  readonly placesChunks = true;
  /**
   * 8 MiB: a chunk of at least S3's smallest part streams straight into UploadPart
   * (part-uploads.ts); smaller ones are staged as objects and copied. 256 MiB through Ceph RGW:
   * 16.0 s with the clients' default 4 MiB chunks, 8.06 s with 8 MiB chunks (bench, same run).
   */
  readonly preferredChunkSize = STREAM_PART;
  readonly client: S3Client;
  readonly bucket: string;
  readonly prefix: string;
  private readonly store: Bucket;
  private readonly chunks: Chunks;
  private readonly parts: PartUploads;
  private readonly uploads: Uploads;
  private readonly files: PublishedFiles;
  private readonly assembler: Assembler;
  /** Byte-stream uploads (tus, IETF): stream-uploads.ts has their objects. */
  readonly streams: S3Streams;
  /** Presigned URLs of published files, under `redirect` only. */
  private readonly links: DirectLinks | undefined;

  constructor(private readonly options: S3StorageOptions) {
    this.bucket = options.bucket;
    this.prefix = options.prefix ?? 'resumable-transfer/';
    this.client = createS3Client(options);
    this.store = new Bucket(this.client, this.bucket, new KeyLayout(this.prefix), copyCallOptions(options));
    this.chunks = new Chunks(this.store);
    this.uploads = new Uploads(this.store);
    this.files = new PublishedFiles(this.store);
    this.parts = new PartUploads(
      this.store,
      createS3Client(options, true),
      (key) => this.files.stat(key),
      (bytes, md5) => this.chunks.stageBytes(bytes, md5),
      options.partWaitMs ?? PART_WAIT_MS,
    );
    this.assembler = new Assembler(this.store);
    this.streams = new S3Streams(this.store, this.files);
    this.links = options.redirect
      ? new DirectLinks(
          options,
          this.bucket,
          options.redirectTtlSeconds ?? DEFAULT_REDIRECT_TTL_SECONDS,
          options.publicEndpoint,
        )
      : undefined;
  }

  /** Uses the bucket, creating it if it does not exist. */
  async init(): Promise<void> {
    const where = `${this.options.endpoint ?? 'AWS S3'} bucket ${this.bucket}`;
    try {
      await this.client.send(new HeadBucketCommand({ Bucket: this.bucket }));
      return;
    } catch (err: unknown) {
      if (!notFound(err)) throw new Error(`S3 storage: cannot use ${where}: ${describeS3Error(err)}`);
    }
    try {
      await this.client.send(new CreateBucketCommand({ Bucket: this.bucket }));
      this.options.onBucketCreated?.(this.bucket);
    } catch (err: unknown) {
      const owned = err instanceof S3ServiceException && err.name === 'BucketAlreadyOwnedByYou';
      if (!owned) throw new Error(`S3 storage: cannot create ${where}: ${describeS3Error(err)}`);
    }
  }

  async close(): Promise<void> {
    this.client.destroy();
    this.parts.close();
    this.links?.close();
  }

  readPlan(fileId: string, session: string | null = null): Promise<UploadPlan | undefined> {
    return this.uploads.readPlan(fileId, session);
  }

  listPlans(fileId: string): Promise<UploadPlan[]> {
    return this.uploads.listPlans(fileId);
  }

  removePlan(fileId: string, session: string | null): Promise<void> {
    return this.uploads.removePlan(fileId, session);
  }

  writePlan(plan: UploadPlan): Promise<void> {
    return this.uploads.writePlan(plan);
  }

  async removeChunks(fileId: string, md5s: readonly string[]): Promise<void> {
    const gone = new Set(md5s);
    if (gone.size === 0) return;
    await this.chunks.remove(fileId, gone);
    await this.parts.removeIfCovering(fileId, gone);
  }

  async stageChunk(body: Readable, maxBytes: number, target?: ChunkTarget): Promise<StagedChunk> {
    const part = target && (await this.parts.stage(body, maxBytes, target));
    return part ?? this.chunks.stage(body, maxBytes);
  }

  async commitChunk(staged: StagedChunk, fileId: string): Promise<boolean> {
    if (isPartStaged(staged)) return this.parts.commit(staged, fileId);
    const stored = await this.chunks.commit(staged, fileId);
    // Held or not before, the object is there: an upload sent as parts lists its objects again.
    await this.parts.noteObject(fileId, staged);
    return stored;
  }

  async discardChunk(staged: StagedChunk): Promise<void> {
    // A part holds the chunk's verified bytes: left for the same chunk, or for the upload's end.
    if (!isPartStaged(staged)) await this.chunks.discard(staged);
  }

  async heldChunks(fileId: string, committed?: StagedChunk): Promise<ReadonlyMap<string, number>> {
    // After a commit here, parts.json as that commit left it stands in for a read of it, and the
    // chunk objects are listed unless it says there can be none (part-uploads.ts).
    const after = committed && this.parts.committedState(fileId, committed);
    if (after) {
      const parts = heldParts(after.state);
      if (after.state?.objects === false) return parts;
      for (const [md5, size] of await this.chunks.held(fileId)) parts.set(md5, size);
      return parts;
    }
    const [objects, parts] = await Promise.all([this.chunks.held(fileId), this.parts.held(fileId)]);
    for (const [md5, size] of objects) parts.set(md5, size);
    return parts;
  }

  async assemble(fileId: string, options: AssembleOptions): Promise<PublishedFile> {
    let key: string;
    try {
      // Undefined unless the upload was sent as parts (never a deferred one: part-uploads.ts).
      const viaParts = await this.parts.assemble(fileId, options);
      if (viaParts?.kind === 'existing') {
        await this.removeUpload(fileId);
        return viaParts.file;
      }
      if (viaParts) {
        await this.removeUpload(fileId);
        return await this.visible(viaParts.key);
      }
      const held = await this.chunks.held(fileId);
      const sizes = options.md5s.map((m) => held.get(m));
      // Removed since the caller saw every chunk held (an assembly that published the file, an
      // abandon): the core decides the answer (core/assembly.ts).
      if (sizes.some((s) => s === undefined))
        throw new TransferError('UPLOAD_NOT_FOUND', 'A chunk of the plan is gone: handshake again.');
      const total = (sizes as number[]).reduce((a, b) => a + b, 0);
      if (options.expectedSize !== null && options.expectedSize !== total)
        throw new TransferError('SIZE_MISMATCH');
      const where = await this.publication(fileId, options);
      if (where.kind === 'existing') {
        await this.removeUpload(fileId);
        return where.file;
      }
      key = where.key;
      await this.assembler.build(fileId, key, options, sizes as number[], where.sha256);
    } catch (err: unknown) {
      throw mapS3Error(err);
    }
    await this.removeUpload(fileId);
    return this.visible(key);
  }

  private async visible(key: string): Promise<PublishedFile> {
    const published = await this.files.stat(key);
    if (!published) throw new TransferError('INTERNAL', `published file ${key} is not visible`);
    return published;
  }

  /**
   * Where the upload's file goes (publication.ts), decided before anything is written: with the
   * declared SHA-256, or with the one the chunks hash to when a file has the MD5 already (then the
   * bytes are verified here). An existing answer comes only after the upload's bytes were verified.
   */
  private async publication(
    fileId: string,
    options: AssembleOptions,
  ): Promise<
    Exclude<Publication, { kind: 'publish' }> | { kind: 'publish'; key: string; sha256: string | null }
  > {
    const md5 = expectedMd5(fileId, options);
    const declared = options.sha256 ?? null;
    let digests: Digests | undefined;
    let sha = declared;
    if (sha === null && (await this.files.stat(md5))) {
      digests = await this.assembler.verifiedDigests(fileId, options.md5s, md5, null);
      sha = digests.sha256;
    }
    if (sha === null) return { kind: 'publish', key: md5, sha256: null };
    const distinct = declared !== null || options.needsSha256 === true;
    const where = await publicationOf(md5, sha, distinct, (k) => this.files.stat(k));
    if (where.kind === 'publish') return { ...where, sha256: sha };
    if (!digests) await this.assembler.verifiedDigests(fileId, options.md5s, md5, sha);
    return where;
  }

  statFile(fileId: string): Promise<PublishedFile | undefined> {
    return this.files.stat(fileId);
  }

  openFile(fileId: string): Promise<OpenedFile | undefined> {
    return this.files.open(fileId);
  }

  async directUrl(
    file: PublishedFile,
    method: 'GET' | 'HEAD',
    response: DirectResponse,
  ): Promise<string | undefined> {
    return this.links?.url(this.store.keys.file(file.key), method, response);
  }

  /**
   * The upload's objects, then the multipart upload its parts.json named: a crash in between
   * leaves a multipart upload nothing names, which the sweeper aborts by age.
   */
  async removeUpload(fileId: string): Promise<void> {
    const parts = await this.parts.read(fileId);
    await this.uploads.remove(fileId);
    if (parts) await this.parts.abort(parts.state);
  }

  listUploads(): AsyncIterable<UploadSummary> {
    return this.uploads.list();
  }

  sweepTemp(olderThanMs: number): Promise<number> {
    return sweepTemp(this.store, olderThanMs, this.chunks.inFlight, (key, id) => this.parts.owns(key, id));
  }
}
