/**
 * Assembly: the held chunks, in plan order, become files/<fileId>, visible only once its
 * whole-file MD5 was verified. The three paths and what each moves through this process are
 * described in s3.ts.
 */
import { createHash } from 'node:crypto';
import type { Readable } from 'node:stream';
import {
  AbortMultipartUploadCommand,
  CompleteMultipartUploadCommand,
  CreateMultipartUploadCommand,
  GetObjectCommand,
  PutObjectCommand,
  UploadPartCommand,
  UploadPartCopyCommand,
} from '@aws-sdk/client-s3';
import pLimit from 'p-limit';
import { TransferError } from '../../protocol/errors.js';
import type { AssembleOptions } from '../storage.js';
import type { Bucket } from './bucket.js';
import { MAX_COPY_PART, MIN_PART, STREAM_PART } from './limits.js';

type Metadata = Record<string, string>;

/** Which path builds the file, from the sizes of its chunks in order. */
export function assemblyPath(sizes: readonly number[]): 'small' | 'copy' | 'stream' {
  const total = sizes.reduce((a, b) => a + b, 0);
  if (total <= STREAM_PART) return 'small';
  const copyable =
    sizes.length > 1 &&
    sizes.every((s, i) => s <= MAX_COPY_PART && (i === sizes.length - 1 || s >= MIN_PART));
  return copyable ? 'copy' : 'stream';
}

export class Assembler {
  constructor(private readonly bucket: Bucket) {}

  /** Builds and publishes files/<fileId> from chunks of these sizes (throws, publishing nothing, on a bad MD5). */
  async build(fileId: string, options: AssembleOptions, sizes: readonly number[]): Promise<void> {
    const metadata = { name: encodeURIComponent(options.name ?? ''), ext: options.ext };
    const path = assemblyPath(sizes);
    if (path === 'small') await this.small(fileId, options.md5s, metadata);
    else if (path === 'copy') await this.byCopy(fileId, options.md5s, metadata);
    else await this.byStream(fileId, options.md5s, metadata);
  }

  /** The chunks' bytes in file order, as one stream of buffers. */
  private async *chunkBytes(fileId: string, md5s: readonly string[]): AsyncIterable<Buffer> {
    for (const md5 of md5s) {
      const res = await this.bucket.client.send(
        new GetObjectCommand({ Bucket: this.bucket.name, Key: this.bucket.keys.chunk(fileId, md5) }),
      );
      for await (const buf of res.Body as Readable) yield buf as Buffer;
    }
  }

  private async small(fileId: string, md5s: readonly string[], metadata: Metadata) {
    const parts: Buffer[] = [];
    for await (const buf of this.chunkBytes(fileId, md5s)) parts.push(buf);
    const body = Buffer.concat(parts);
    if (createHash('md5').update(body).digest('hex') !== fileId) throw new TransferError('FILE_MD5_MISMATCH');
    await this.bucket.client.send(
      new PutObjectCommand({
        Bucket: this.bucket.name,
        Key: this.bucket.keys.file(fileId),
        Body: body,
        Metadata: metadata,
      }),
    );
  }

  private async byCopy(fileId: string, md5s: readonly string[], metadata: Metadata) {
    const hash = createHash('md5');
    for await (const buf of this.chunkBytes(fileId, md5s)) hash.update(buf);
    if (hash.digest('hex') !== fileId) throw new TransferError('FILE_MD5_MISMATCH');
    await this.multipart(fileId, metadata, async (uploadId) => {
      // At most four part copies in flight per assembly, each a whole chunk copied inside the store.
      const limit = pLimit(4);
      return Promise.all(
        md5s.map((md5, i) =>
          limit(async () => {
            const res = await this.bucket.client.send(
              new UploadPartCopyCommand({
                Bucket: this.bucket.name,
                Key: this.bucket.keys.file(fileId),
                UploadId: uploadId,
                PartNumber: i + 1,
                CopySource: `${this.bucket.name}/${this.bucket.keys.chunk(fileId, md5)}`,
              }),
              this.bucket.copyCall,
            );
            return res.CopyPartResult?.ETag ?? '';
          }),
        ),
      );
    });
  }

  private async byStream(fileId: string, md5s: readonly string[], metadata: Metadata) {
    await this.multipart(fileId, metadata, async (uploadId) => {
      const hash = createHash('md5');
      const etags: string[] = [];
      let pending: Buffer[] = [];
      let pendingBytes = 0;
      const flush = async () => {
        const body = Buffer.concat(pending, pendingBytes);
        pending = [];
        pendingBytes = 0;
        const res = await this.bucket.client.send(
          new UploadPartCommand({
            Bucket: this.bucket.name,
            Key: this.bucket.keys.file(fileId),
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
    metadata: Metadata,
    parts: (uploadId: string) => Promise<string[]>,
  ) {
    const { client, name: Bucket } = this.bucket;
    const Key = this.bucket.keys.file(fileId);
    const created = await client.send(new CreateMultipartUploadCommand({ Bucket, Key, Metadata: metadata }));
    const UploadId = created.UploadId!;
    try {
      const etags = await parts(UploadId);
      await client.send(
        new CompleteMultipartUploadCommand({
          Bucket,
          Key,
          UploadId,
          MultipartUpload: { Parts: etags.map((ETag, i) => ({ ETag, PartNumber: i + 1 })) },
        }),
        // The store may join the parts before it answers.
        this.bucket.copyCall,
      );
    } catch (err: unknown) {
      await client.send(new AbortMultipartUploadCommand({ Bucket, Key, UploadId })).catch(() => undefined);
      throw err;
    }
  }
}
