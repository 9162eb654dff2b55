/**
 * Assembly: the held chunks, in plan order, become files/<key>, visible only once its whole-file
 * MD5 (and the declared SHA-256) was verified; its SHA-256 is recorded in the object's metadata
 * (`sha256`), so it must be known before the object is created. The three paths and what each
 * moves through this process are described in s3.ts.
 */
import { createHash } from 'node:crypto';
import type { Readable } from 'node:stream';
import { GetObjectCommand, PutObjectCommand } from '@aws-sdk/client-s3';
import { TransferError } from '../../protocol/errors.js';
import { expectedMd5 } from '../publication.js';
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

export interface Digests {
  md5: string;
  sha256: string;
}

/** Throws unless the digests are `md5` (the upload's expectedMd5) and `sha256` if known. */
export function checkDigests(d: Digests, md5: string, sha256: string | null): void {
  if (d.md5 !== md5) throw new TransferError('FILE_MD5_MISMATCH');
  if (sha256 !== null && d.sha256 !== sha256) throw new TransferError('FILE_SHA256_MISMATCH');
}

export class Assembler {
  constructor(private readonly bucket: Bucket) {}

  /**
   * Builds and publishes files/<key> from the chunks of upload `fileId` of these sizes (throws,
   * publishing nothing, on a bad MD5 or SHA-256). `sha256`: what the bytes must hash to, or null
   * when it is not known yet (then it is computed before anything is written).
   */
  async build(
    fileId: string,
    key: string,
    options: AssembleOptions,
    sizes: readonly number[],
    sha256: string | null,
  ): Promise<void> {
    const metadata = (sha: string): Metadata => ({
      name: encodeURIComponent(options.name ?? ''),
      ext: options.ext,
      sha256: sha,
    });
    const path = assemblyPath(sizes);
    const md5 = expectedMd5(fileId, options);
    if (path === 'small') await this.small(fileId, key, options.md5s, metadata, sha256, md5);
    else if (path === 'copy') await this.byCopy(fileId, key, options.md5s, metadata, sha256, md5);
    else {
      // The metadata is set when the multipart upload starts: a SHA-256 not known yet costs a first read.
      const sha = sha256 ?? (await this.verifiedDigests(fileId, options.md5s, md5, null)).sha256;
      await this.byStream(fileId, key, options.md5s, metadata(sha), sha, md5);
    }
  }

  /**
   * Reads the chunks once and checks their digests against `md5` (expectedMd5) and `sha256` if
   * known (the file exists already, or its SHA-256 is needed first).
   */
  async verifiedDigests(
    fileId: string,
    md5s: readonly string[],
    md5: string,
    sha256: string | null,
  ): Promise<Digests> {
    const hash = createHash('md5');
    const sha = createHash('sha256');
    for await (const buf of this.chunkBytes(fileId, md5s)) {
      hash.update(buf);
      sha.update(buf);
    }
    const d = { md5: hash.digest('hex'), sha256: sha.digest('hex') };
    checkDigests(d, md5, sha256);
    return d;
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

  private async small(
    fileId: string,
    key: string,
    md5s: readonly string[],
    metadata: (sha: string) => Metadata,
    sha256: string | null,
    md5: string,
  ) {
    const parts: Buffer[] = [];
    for await (const buf of this.chunkBytes(fileId, md5s)) parts.push(buf);
    const body = Buffer.concat(parts);
    const d = {
      md5: createHash('md5').update(body).digest('hex'),
      sha256: createHash('sha256').update(body).digest('hex'),
    };
    checkDigests(d, md5, sha256);
    await this.bucket.client.send(
      new PutObjectCommand({
        Bucket: this.bucket.name,
        Key: this.bucket.keys.file(key),
        Body: body,
        Metadata: metadata(d.sha256),
      }),
    );
  }

  private async byCopy(
    fileId: string,
    key: string,
    md5s: readonly string[],
    metadata: (sha: string) => Metadata,
    sha256: string | null,
    md5: string,
  ) {
    const d = await this.verifiedDigests(fileId, md5s, md5, sha256);
    const Key = this.bucket.keys.file(key);
    await multipartUpload(this.bucket, Key, metadata(d.sha256), (uploadId) =>
      copyParts(
        this.bucket,
        Key,
        uploadId,
        md5s.map((md5) => this.bucket.keys.chunk(fileId, md5)),
      ),
    );
  }

  private async byStream(
    fileId: string,
    key: string,
    md5s: readonly string[],
    metadata: Metadata,
    sha256: string,
    md5: string,
  ) {
    const Key = this.bucket.keys.file(key);
    await multipartUpload(this.bucket, Key, metadata, async (uploadId) => {
      const hash = createHash('md5');
      const sha = createHash('sha256');
      const hashed = async function* (bytes: AsyncIterable<Buffer>) {
        for await (const buf of bytes) {
          hash.update(buf);
          sha.update(buf);
          yield buf;
        }
      };
      const etags = await streamParts(this.bucket, Key, uploadId, hashed(this.chunkBytes(fileId, md5s)));
      // Verified before CompleteMultipartUpload: until then nothing is visible under the key.
      checkDigests({ md5: hash.digest('hex'), sha256: sha.digest('hex') }, md5, sha256);
      return etags;
    });
  }
}
