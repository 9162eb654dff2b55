/**
 * Assembly: the held chunks, in plan order, become files/<fileId>, visible only once its
 * whole-file MD5 was verified. The three paths and what each moves through this process are
 * described in s3.ts.
 */
import { createHash } from 'node:crypto';
import type { Readable } from 'node:stream';
import { GetObjectCommand, PutObjectCommand } from '@aws-sdk/client-s3';
import { TransferError } from '../../protocol/errors.js';
import type { AssembleOptions } from '../storage.js';
import type { Bucket } from './bucket.js';
import { MAX_COPY_PART, MIN_PART, STREAM_PART } from './limits.js';
import { copyParts, multipartUpload, streamParts } from './multipart.js';

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
    const Key = this.bucket.keys.file(fileId);
    await multipartUpload(this.bucket, Key, metadata, (uploadId) =>
      copyParts(
        this.bucket,
        Key,
        uploadId,
        md5s.map((md5) => this.bucket.keys.chunk(fileId, md5)),
      ),
    );
  }

  private async byStream(fileId: string, md5s: readonly string[], metadata: Metadata) {
    const Key = this.bucket.keys.file(fileId);
    await multipartUpload(this.bucket, Key, metadata, async (uploadId) => {
      const hash = createHash('md5');
      const hashed = async function* (bytes: AsyncIterable<Buffer>) {
        for await (const buf of bytes) {
          hash.update(buf);
          yield buf;
        }
      };
      const etags = await streamParts(this.bucket, Key, uploadId, hashed(this.chunkBytes(fileId, md5s)));
      // Verified before CompleteMultipartUpload: until then nothing is visible under the key.
      if (hash.digest('hex') !== fileId) throw new TransferError('FILE_MD5_MISMATCH');
      return etags;
    });
  }
}
