/** Published files: what statFile says about them, and reading their bytes by range. */
import { PassThrough, type Readable } from 'node:stream';
import { GetObjectCommand, type HeadObjectCommandOutput } from '@aws-sdk/client-s3';
import type { RangeSource } from '../../io/range-source.js';
import { md5OfKey } from '../../protocol/ids.js';
import type { OpenedFile, PublishedFile } from '../storage.js';
import { type Bucket, readBody } from './bucket.js';

const MiB = 1024 * 1024;

/** A published object as a byte source: every range is a ranged GET pinned to one ETag. */
class S3Source implements RangeSource {
  constructor(
    private readonly bucket: Bucket,
    private readonly key: string,
    private readonly etag: string | undefined,
    readonly size: number,
    readonly mtime: Date,
  ) {}

  private get(start: number, end: number, abortSignal?: AbortSignal) {
    return this.bucket.client.send(
      new GetObjectCommand({
        Bucket: this.bucket.name,
        Key: this.key,
        Range: `bytes=${start}-${end}`,
        IfMatch: this.etag,
      }),
      { abortSignal },
    );
  }

  stream(start: number, end: number): Readable {
    const out = new PassThrough({ highWaterMark: MiB });
    // The HTTP client leaving closes `out`: its GET is cancelled, retries and all.
    const abandoned = new AbortController();
    out.once('close', () => {
      if (!out.readableEnded) abandoned.abort();
    });
    this.get(start, end, abandoned.signal).then(
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

function describe(key: string, h: HeadObjectCommandOutput): PublishedFile {
  let name: string | null = null;
  try {
    name = decodeURIComponent(h.Metadata?.name ?? '') || null;
  } catch {
    name = null;
  }
  const sha256 = h.Metadata?.sha256 ?? '';
  return {
    fileId: md5OfKey(key),
    key,
    size: h.ContentLength ?? 0,
    mtime: h.LastModified ?? new Date(0),
    name,
    ext: h.Metadata?.ext || null,
    sha256: /^[0-9a-f]{64}$/.test(sha256) ? sha256 : null,
  };
}

export class PublishedFiles {
  constructor(private readonly bucket: Bucket) {}

  async stat(fileId: string): Promise<PublishedFile | undefined> {
    const h = await this.bucket.head(this.bucket.keys.file(fileId));
    return h && describe(fileId, h);
  }

  /** One HEAD answers both what the file is and which version every range must come from. */
  async open(fileId: string): Promise<OpenedFile | undefined> {
    const key = this.bucket.keys.file(fileId);
    const h = await this.bucket.head(key);
    if (!h) return undefined;
    const file = describe(fileId, h);
    return { source: new S3Source(this.bucket, key, h.ETag, file.size, file.mtime), file };
  }
}
