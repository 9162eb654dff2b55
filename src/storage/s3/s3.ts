/**
 * S3-compatible storage backend (AWS S3, Ceph RADOS Gateway, MinIO), for several stateless server
 * processes sharing one bucket. Nothing lives only in a process's memory: every answer is
 * rebuilt from the bucket, so any process can take any request.
 *
 * Objects it writes, all under `<prefix>` (default `resumable-transfer/`):
 *
 *   files/<fileId>                  a published file: complete and MD5-verified before it was
 *                                   made visible (see assemble). Metadata: name (URI-encoded), ext.
 *                                   Immutable; never deleted by the server.
 *   uploads/<fileId>/plan.json      the last handshake's plan. Deleted with the upload.
 *   uploads/<fileId>/chunks/<md5>   a held chunk, named by its verified MD5 (content-addressed).
 *                                   Deleted when the file is published, or when the upload is
 *                                   abandoned (DELETE) or expires.
 *   tmp/<random>                    a chunk being received. Copied to its chunk key once its MD5
 *                                   is known, then deleted; swept by age if a process dies first.
 *   (multipart uploads)             in flight for large chunks and for assembly; aborted on
 *                                   failure, and dangling ones are aborted by the sweeper by age.
 *
 * A chunk is held only once its object exists under its MD5 key: its bytes were hashed on their
 * way to the store (streamed: parts of 5 MiB through @aws-sdk/lib-storage, never the whole chunk).
 *
 * Assembly, and what each path costs in bytes moved through this process (N = file size):
 * - Copy path, when every chunk but the last is at least 5 MiB (S3's minimum part): the chunks
 *   are read once in order to verify the whole-file MD5 (N bytes in), then the file is built by
 *   the store itself with UploadPartCopy, one part per chunk (0 bytes through us), and becomes
 *   visible only at CompleteMultipartUpload. Total: N in.
 * - Stream path, otherwise (small chunks, e.g. the course client's): the chunks are read in
 *   order and re-uploaded as 8 MiB parts while hashing (N in + N out); the MD5 is checked before
 *   CompleteMultipartUpload, and a mismatch aborts the multipart upload, so nothing appears.
 *   Files up to 8 MiB are read into memory, verified, then written with one PutObject.
 * Two processes assembling the same file at once both verify and both publish identical bytes
 * under the same key: still exactly one verified object.
 */
import { createHash, randomBytes } from 'node:crypto';
import { PassThrough, type Readable, Transform } from 'node:stream';
import {
  AbortMultipartUploadCommand,
  CompleteMultipartUploadCommand,
  CopyObjectCommand,
  CreateBucketCommand,
  CreateMultipartUploadCommand,
  DeleteObjectCommand,
  GetObjectCommand,
  HeadBucketCommand,
  HeadObjectCommand,
  ListMultipartUploadsCommand,
  ListObjectsV2Command,
  type ListObjectsV2CommandOutput,
  PutObjectCommand,
  S3Client,
  S3ServiceException,
  UploadPartCommand,
  UploadPartCopyCommand,
} from '@aws-sdk/client-s3';
import { Upload } from '@aws-sdk/lib-storage';
import type { RangeSource } from '../../io/range-source.js';
import { TransferError } from '../../protocol/errors.js';
import { isMd5Hex } from '../../protocol/ids.js';
import type {
  AssembleOptions,
  OpenedFile,
  PublishedFile,
  StagedChunk,
  Storage,
  UploadPlan,
  UploadSummary,
} from '../storage.js';

// The SDK is pinned (package.json) to a release that supports Node 20; its notice that later
// releases will need Node 22 is for whoever upgrades it, not for every server start.
process.env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED ??= 'true';

const MiB = 1024 * 1024;
/** S3's smallest part (all but the last). */
const MIN_PART = 5 * MiB;
const STREAM_PART = 8 * MiB;
/** S3's largest single copy source for UploadPartCopy. */
const MAX_COPY_PART = 5 * 1024 * MiB;

export interface S3StorageOptions {
  bucket: string;
  /** e.g. http://127.0.0.1:7480 for Ceph RGW; undefined for AWS. */
  endpoint?: string | undefined;
  region?: string | undefined;
  /** Key prefix; default `resumable-transfer/`. */
  prefix?: string | undefined;
  /** Credentials; default: the standard AWS environment variables and profiles. */
  accessKeyId?: string | undefined;
  secretAccessKey?: string | undefined;
  /** Path-style URLs (needed by Ceph and MinIO); default true when an endpoint is given. */
  forcePathStyle?: boolean | undefined;
  /** Told about a bucket created at start. */
  onBucketCreated?: (bucket: string) => void;
}

interface S3StagedChunk extends StagedChunk {
  readonly key: string;
}

function notFound(err: unknown): boolean {
  if (!(err instanceof S3ServiceException)) return false;
  return err.$metadata.httpStatusCode === 404 || err.name === 'NoSuchKey' || err.name === 'NotFound';
}

/** Store failures as protocol errors: a full store is 507, anything else 500. */
function mapS3Error(err: unknown): unknown {
  if (err instanceof TransferError) return err;
  if (err instanceof S3ServiceException && (err.name === 'QuotaExceeded' || err.name === 'EntityTooLarge')) {
    return new TransferError('INSUFFICIENT_STORAGE', undefined, { cause: err });
  }
  return new TransferError('INTERNAL', `object store: ${(err as Error).message}`, { cause: err });
}

async function readBody(body: unknown): Promise<Buffer> {
  const bytes = await (body as { transformToByteArray(): Promise<Uint8Array> }).transformToByteArray();
  return Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
}

/** Runs fn over items with at most `limit` at once, in order of start. */
async function pool<T>(items: readonly T[], limit: number, fn: (item: T, i: number) => Promise<void>) {
  let next = 0;
  await Promise.all(
    Array.from({ length: Math.min(limit, items.length) }, async () => {
      for (let i = next++; i < items.length; i = next++) await fn(items[i]!, i);
    }),
  );
}

/** A published object as a byte source: every range is a ranged GET pinned to one ETag. */
class S3Source implements RangeSource {
  constructor(
    private readonly client: S3Client,
    private readonly bucket: string,
    private readonly key: string,
    private readonly etag: string | undefined,
    readonly size: number,
    readonly mtime: Date,
  ) {}

  private get(start: number, end: number) {
    return this.client.send(
      new GetObjectCommand({
        Bucket: this.bucket,
        Key: this.key,
        Range: `bytes=${start}-${end}`,
        IfMatch: this.etag,
      }),
    );
  }

  stream(start: number, end: number): Readable {
    const out = new PassThrough({ highWaterMark: MiB });
    this.get(start, end).then(
      (res) => {
        const body = res.Body as Readable;
        // The client may have gone while the GET was on its way: release the store's connection.
        if (out.destroyed) {
          body.destroy();
          return;
        }
        body.on('error', (err) => out.destroy(err));
        out.on('close', () => body.destroy());
        body.pipe(out);
      },
      (err: unknown) => out.destroy(err as Error),
    );
    return out;
  }

  async read(start: number, end: number): Promise<Buffer> {
    return readBody((await this.get(start, end)).Body);
  }

  async close(): Promise<void> {}
}

export class S3Storage implements Storage {
  /** Chunks are objects of their own; a target is ignored. */
  readonly placesChunks = false;
  readonly client: S3Client;
  readonly bucket: string;
  readonly prefix: string;
  /** Staged keys owned by running requests in this process (never swept by this process). */
  private readonly inFlight = new Set<string>();

  constructor(private readonly options: S3StorageOptions) {
    this.bucket = options.bucket;
    this.prefix = options.prefix ?? 'resumable-transfer/';
    this.client = new S3Client({
      endpoint: options.endpoint,
      region: options.region ?? process.env.AWS_REGION ?? 'us-east-1',
      forcePathStyle: options.forcePathStyle ?? options.endpoint !== undefined,
      credentials:
        options.accessKeyId && options.secretAccessKey
          ? { accessKeyId: options.accessKeyId, secretAccessKey: options.secretAccessKey }
          : undefined,
      // Checksums only where S3 requires them: Ceph and MinIO versions differ in what they accept.
      requestChecksumCalculation: 'WHEN_REQUIRED',
      responseChecksumValidation: 'WHEN_REQUIRED',
      maxAttempts: 4,
    });
  }

  private k(rest: string): string {
    return `${this.prefix}${rest}`;
  }

  private planKey(fileId: string) {
    return this.k(`uploads/${fileId}/plan.json`);
  }

  private chunkKey(fileId: string, md5: string) {
    return this.k(`uploads/${fileId}/chunks/${md5}`);
  }

  private fileKey(fileId: string) {
    return this.k(`files/${fileId}`);
  }

  async init(): Promise<void> {
    const where = `${this.options.endpoint ?? 'AWS S3'} bucket ${this.bucket}`;
    try {
      await this.client.send(new HeadBucketCommand({ Bucket: this.bucket }));
      return;
    } catch (err: unknown) {
      if (!notFound(err)) throw new Error(`S3 storage: cannot use ${where}: ${describe(err)}`);
    }
    try {
      await this.client.send(new CreateBucketCommand({ Bucket: this.bucket }));
      this.options.onBucketCreated?.(this.bucket);
    } catch (err: unknown) {
      const owned = err instanceof S3ServiceException && err.name === 'BucketAlreadyOwnedByYou';
      if (!owned) throw new Error(`S3 storage: cannot create ${where}: ${describe(err)}`);
    }
  }

  async close(): Promise<void> {
    this.client.destroy();
  }

  async readPlan(fileId: string): Promise<UploadPlan | undefined> {
    try {
      const res = await this.client.send(
        new GetObjectCommand({ Bucket: this.bucket, Key: this.planKey(fileId) }),
      );
      return JSON.parse((await readBody(res.Body)).toString('utf8')) as UploadPlan;
    } catch (err: unknown) {
      if (notFound(err)) return undefined;
      throw mapS3Error(err);
    }
  }

  async writePlan(plan: UploadPlan): Promise<void> {
    try {
      await this.client.send(
        new PutObjectCommand({
          Bucket: this.bucket,
          Key: this.planKey(plan.fileId),
          Body: JSON.stringify(plan),
          ContentType: 'application/json',
        }),
      );
    } catch (err: unknown) {
      throw mapS3Error(err);
    }
  }

  async stageChunk(body: Readable, maxBytes: number): Promise<StagedChunk> {
    const key = this.k(`tmp/${Date.now()}-${randomBytes(8).toString('hex')}`);
    this.inFlight.add(key);
    const hash = createHash('md5');
    let size = 0;
    const counted = new Transform({
      transform(buf: Buffer, _enc, done) {
        size += buf.length;
        if (size > maxBytes) {
          done(new TransferError('CHUNK_TOO_LARGE'));
          return;
        }
        hash.update(buf);
        done(null, buf);
      },
    });
    body.on('error', (err) => counted.destroy(err));
    body.pipe(counted);
    const upload = new Upload({
      client: this.client,
      params: { Bucket: this.bucket, Key: key, Body: counted },
      partSize: MIN_PART,
      queueSize: 1,
      leavePartsOnError: false,
    });
    try {
      const out = await upload.done();
      const md5 = hash.digest('hex');
      // A single PUT's ETag is the MD5 the store computed: it must be what we hashed.
      const etag = (out.ETag ?? '').replaceAll('"', '');
      if (isMd5Hex(etag) && etag !== md5)
        throw new TransferError('INTERNAL', 'the store holds other bytes than sent');
      const staged: S3StagedChunk = { md5, size, key };
      return staged;
    } catch (err: unknown) {
      this.inFlight.delete(key);
      await this.deleteKey(key).catch(() => undefined);
      throw mapS3Error(err);
    }
  }

  private async exists(key: string): Promise<boolean> {
    try {
      await this.client.send(new HeadObjectCommand({ Bucket: this.bucket, Key: key }));
      return true;
    } catch (err: unknown) {
      if (notFound(err)) return false;
      throw mapS3Error(err);
    }
  }

  private deleteKey(key: string) {
    return this.client.send(new DeleteObjectCommand({ Bucket: this.bucket, Key: key }));
  }

  async commitChunk(staged: StagedChunk, fileId: string): Promise<boolean> {
    const { key } = staged as S3StagedChunk;
    try {
      const target = this.chunkKey(fileId, staged.md5);
      if (await this.exists(target)) return false;
      // Server-side copy: the bytes do not pass through this process again.
      await this.client.send(
        new CopyObjectCommand({ Bucket: this.bucket, Key: target, CopySource: `${this.bucket}/${key}` }),
      );
      return true;
    } catch (err: unknown) {
      throw mapS3Error(err);
    } finally {
      this.inFlight.delete(key);
      await this.deleteKey(key).catch(() => undefined);
    }
  }

  async discardChunk(staged: StagedChunk): Promise<void> {
    const { key } = staged as S3StagedChunk;
    this.inFlight.delete(key);
    await this.deleteKey(key).catch(() => undefined);
  }

  private async *list(
    prefix: string,
  ): AsyncIterable<NonNullable<ListObjectsV2CommandOutput['Contents']>[number]> {
    let token: string | undefined;
    do {
      const page = await this.client.send(
        new ListObjectsV2Command({ Bucket: this.bucket, Prefix: prefix, ContinuationToken: token }),
      );
      for (const o of page.Contents ?? []) yield o;
      token = page.IsTruncated ? page.NextContinuationToken : undefined;
    } while (token);
  }

  async heldChunks(fileId: string): Promise<ReadonlyMap<string, number>> {
    const held = new Map<string, number>();
    const prefix = this.k(`uploads/${fileId}/chunks/`);
    try {
      for await (const o of this.list(prefix)) {
        const md5 = (o.Key ?? '').slice(prefix.length);
        if (isMd5Hex(md5)) held.set(md5, o.Size ?? 0);
      }
    } catch (err: unknown) {
      throw mapS3Error(err);
    }
    return held;
  }

  /** The chunks' bytes in file order, as one stream of buffers. */
  private async *chunkBytes(fileId: string, md5s: readonly string[]): AsyncIterable<Buffer> {
    for (const md5 of md5s) {
      const res = await this.client.send(
        new GetObjectCommand({ Bucket: this.bucket, Key: this.chunkKey(fileId, md5) }),
      );
      for await (const buf of res.Body as Readable) yield buf as Buffer;
    }
  }

  async assemble(fileId: string, options: AssembleOptions): Promise<PublishedFile> {
    const existing = await this.statFile(fileId);
    if (existing) return existing;
    try {
      const held = await this.heldChunks(fileId);
      const sizes = options.md5s.map((m) => held.get(m));
      if (sizes.some((s) => s === undefined))
        throw new TransferError('INTERNAL', 'a chunk of the plan is missing');
      const total = (sizes as number[]).reduce((a, b) => a + b, 0);
      if (options.expectedSize !== null && options.expectedSize !== total)
        throw new TransferError('SIZE_MISMATCH');
      const metadata = { name: encodeURIComponent(options.name ?? ''), ext: options.ext };
      const copyable =
        options.md5s.length > 1 &&
        (sizes as number[]).every((s, i) => s <= MAX_COPY_PART && (i === sizes.length - 1 || s >= MIN_PART));
      if (total <= STREAM_PART) await this.assembleSmall(fileId, options.md5s, metadata);
      else if (copyable) await this.assembleByCopy(fileId, options.md5s, metadata);
      else await this.assembleByStream(fileId, options.md5s, metadata);
    } catch (err: unknown) {
      throw mapS3Error(err);
    }
    await this.removeUpload(fileId);
    const published = await this.statFile(fileId);
    if (!published) throw new TransferError('INTERNAL', `published file ${fileId} is not visible`);
    return published;
  }

  private async assembleSmall(fileId: string, md5s: readonly string[], metadata: Record<string, string>) {
    const parts: Buffer[] = [];
    for await (const buf of this.chunkBytes(fileId, md5s)) parts.push(buf);
    const body = Buffer.concat(parts);
    if (createHash('md5').update(body).digest('hex') !== fileId) throw new TransferError('FILE_MD5_MISMATCH');
    await this.client.send(
      new PutObjectCommand({
        Bucket: this.bucket,
        Key: this.fileKey(fileId),
        Body: body,
        Metadata: metadata,
      }),
    );
  }

  private async assembleByCopy(fileId: string, md5s: readonly string[], metadata: Record<string, string>) {
    const hash = createHash('md5');
    for await (const buf of this.chunkBytes(fileId, md5s)) hash.update(buf);
    if (hash.digest('hex') !== fileId) throw new TransferError('FILE_MD5_MISMATCH');
    await this.multipart(fileId, metadata, async (uploadId) => {
      const etags: string[] = [];
      await pool(md5s, 4, async (md5, i) => {
        const res = await this.client.send(
          new UploadPartCopyCommand({
            Bucket: this.bucket,
            Key: this.fileKey(fileId),
            UploadId: uploadId,
            PartNumber: i + 1,
            CopySource: `${this.bucket}/${this.chunkKey(fileId, md5)}`,
          }),
        );
        etags[i] = res.CopyPartResult?.ETag ?? '';
      });
      return etags;
    });
  }

  private async assembleByStream(fileId: string, md5s: readonly string[], metadata: Record<string, string>) {
    await this.multipart(fileId, metadata, async (uploadId) => {
      const hash = createHash('md5');
      const etags: string[] = [];
      let pending: Buffer[] = [];
      let pendingBytes = 0;
      const flush = async () => {
        const body = Buffer.concat(pending, pendingBytes);
        pending = [];
        pendingBytes = 0;
        const res = await this.client.send(
          new UploadPartCommand({
            Bucket: this.bucket,
            Key: this.fileKey(fileId),
            UploadId: uploadId,
            PartNumber: etags.length + 1,
            Body: body,
          }),
        );
        etags.push(res.ETag ?? '');
      };
      for await (const buf of this.chunkBytes(fileId, md5s)) {
        hash.update(buf);
        pending.push(buf);
        pendingBytes += buf.length;
        if (pendingBytes >= STREAM_PART) await flush();
      }
      if (pendingBytes > 0) await flush();
      // Verified before CompleteMultipartUpload: until then nothing is visible under the key.
      if (hash.digest('hex') !== fileId) throw new TransferError('FILE_MD5_MISMATCH');
      return etags;
    });
  }

  /** A multipart upload to files/<fileId>: completed with the parts, or aborted on any failure. */
  private async multipart(
    fileId: string,
    metadata: Record<string, string>,
    parts: (uploadId: string) => Promise<string[]>,
  ): Promise<void> {
    const Key = this.fileKey(fileId);
    const created = await this.client.send(
      new CreateMultipartUploadCommand({ Bucket: this.bucket, Key, Metadata: metadata }),
    );
    const UploadId = created.UploadId!;
    try {
      const etags = await parts(UploadId);
      await this.client.send(
        new CompleteMultipartUploadCommand({
          Bucket: this.bucket,
          Key,
          UploadId,
          MultipartUpload: { Parts: etags.map((ETag, i) => ({ ETag, PartNumber: i + 1 })) },
        }),
      );
    } catch (err: unknown) {
      await this.client
        .send(new AbortMultipartUploadCommand({ Bucket: this.bucket, Key, UploadId }))
        .catch(() => undefined);
      throw err;
    }
  }

  private async head(fileId: string) {
    try {
      return await this.client.send(
        new HeadObjectCommand({ Bucket: this.bucket, Key: this.fileKey(fileId) }),
      );
    } catch (err: unknown) {
      if (notFound(err)) return undefined;
      throw mapS3Error(err);
    }
  }

  async statFile(fileId: string): Promise<PublishedFile | undefined> {
    const h = await this.head(fileId);
    return h && this.published(fileId, h);
  }

  private published(fileId: string, h: NonNullable<Awaited<ReturnType<S3Storage['head']>>>): PublishedFile {
    let name: string | null = null;
    try {
      name = decodeURIComponent(h.Metadata?.name ?? '') || null;
    } catch {
      name = null;
    }
    return {
      fileId,
      size: h.ContentLength ?? 0,
      mtime: h.LastModified ?? new Date(0),
      name,
      ext: h.Metadata?.ext || null,
    };
  }

  async openFile(fileId: string): Promise<OpenedFile | undefined> {
    const h = await this.head(fileId);
    if (!h) return undefined;
    const file = this.published(fileId, h);
    return {
      source: new S3Source(this.client, this.bucket, this.fileKey(fileId), h.ETag, file.size, file.mtime),
      file,
    };
  }

  async removeUpload(fileId: string): Promise<void> {
    const keys: string[] = [];
    try {
      for await (const o of this.list(this.k(`uploads/${fileId}/`))) if (o.Key) keys.push(o.Key);
      // One DELETE per key: DeleteObjects needs a Content-MD5 that not every store version accepts.
      await pool(keys, 16, async (key) => {
        await this.deleteKey(key);
      });
    } catch (err: unknown) {
      throw mapS3Error(err);
    }
  }

  async *listUploads(): AsyncIterable<UploadSummary> {
    const prefix = this.k('uploads/');
    const last = new Map<string, number>();
    for await (const o of this.list(prefix)) {
      const fileId = (o.Key ?? '').slice(prefix.length).split('/')[0] ?? '';
      if (!isMd5Hex(fileId)) continue;
      last.set(fileId, Math.max(last.get(fileId) ?? 0, o.LastModified?.getTime() ?? 0));
    }
    for (const [fileId, lastActivity] of last) yield { fileId, lastActivity };
  }

  async sweepTemp(olderThanMs: number): Promise<number> {
    const now = Date.now();
    let removed = 0;
    try {
      for await (const o of this.list(this.k('tmp/'))) {
        if (!o.Key || this.inFlight.has(o.Key)) continue;
        if (now - (o.LastModified?.getTime() ?? now) < olderThanMs) continue;
        await this.deleteKey(o.Key);
        removed++;
      }
      // Multipart uploads left by a process that died mid-chunk or mid-assembly.
      let keyMarker: string | undefined;
      let idMarker: string | undefined;
      do {
        const page = await this.client.send(
          new ListMultipartUploadsCommand({
            Bucket: this.bucket,
            Prefix: this.prefix,
            KeyMarker: keyMarker,
            UploadIdMarker: idMarker,
          }),
        );
        for (const u of page.Uploads ?? []) {
          if (!u.Key || !u.UploadId || this.inFlight.has(u.Key)) continue;
          if (now - (u.Initiated?.getTime() ?? now) < olderThanMs) continue;
          await this.client
            .send(new AbortMultipartUploadCommand({ Bucket: this.bucket, Key: u.Key, UploadId: u.UploadId }))
            .catch(() => undefined);
          removed++;
        }
        keyMarker = page.IsTruncated ? page.NextKeyMarker : undefined;
        idMarker = page.IsTruncated ? page.NextUploadIdMarker : undefined;
      } while (keyMarker);
    } catch (err: unknown) {
      throw mapS3Error(err);
    }
    return removed;
  }
}

function describe(err: unknown): string {
  if (err instanceof S3ServiceException) {
    const status = err.$metadata.httpStatusCode;
    if (status === 403) return 'access denied (check the credentials)';
    return `${err.name}${status ? ` (HTTP ${status})` : ''}`;
  }
  const e = err as NodeJS.ErrnoException & { cause?: { code?: string } };
  return e.code ?? e.cause?.code ?? e.message ?? String(err);
}
