/** The few object operations every part of the backend uses, on one bucket. */
import {
  DeleteObjectCommand,
  GetObjectCommand,
  HeadObjectCommand,
  type HeadObjectCommandOutput,
  ListObjectsV2Command,
  type ListObjectsV2CommandOutput,
  PutObjectCommand,
  type S3Client,
  S3ServiceException,
} from '@aws-sdk/client-s3';
import pLimit from 'p-limit';
import { TransferError } from '../../protocol/errors.js';
import { mapS3Error, notFound } from './errors.js';
import type { KeyLayout } from './keys.js';

export type ListedObject = NonNullable<ListObjectsV2CommandOutput['Contents']>[number];

export async function readBody(body: unknown): Promise<Buffer> {
  const bytes = await (body as { transformToByteArray(): Promise<Uint8Array> }).transformToByteArray();
  return Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
}

/** A conditional write refused because the object changed (or exists) since it was read. */
export function preconditionFailed(err: unknown): boolean {
  return (
    err instanceof S3ServiceException &&
    (err.$metadata.httpStatusCode === 412 || err.name === 'PreconditionFailed')
  );
}

/** Create only (IfNoneMatch: '*') or replace only the version read (IfMatch: its ETag). */
export type PutCondition = { IfMatch?: string; IfNoneMatch?: string };

export class Bucket {
  /**
   * Whether If-Match takes the ETag without its quotes: RFC 9110 and AWS S3 compare the quoted
   * value, Ceph RGW (Pacific) the bare one. Learnt at the first refusal of a current ETag.
   */
  private bareEtags = false;

  constructor(
    readonly client: S3Client,
    readonly name: string,
    readonly keys: KeyLayout,
    /** send() options for a copy made inside the store (see client.ts). */
    readonly copyCall: { requestTimeout: number },
  ) {}

  /** The object's metadata, or undefined if there is none. */
  async head(key: string): Promise<HeadObjectCommandOutput | undefined> {
    try {
      return await this.client.send(new HeadObjectCommand({ Bucket: this.name, Key: key }));
    } catch (err: unknown) {
      if (notFound(err)) return undefined;
      throw mapS3Error(err);
    }
  }

  async exists(key: string): Promise<boolean> {
    return (await this.head(key)) !== undefined;
  }

  /** The whole object in memory (small objects only), or undefined if there is none. */
  async getBytes(key: string): Promise<Buffer | undefined> {
    try {
      const res = await this.client.send(new GetObjectCommand({ Bucket: this.name, Key: key }));
      return await readBody(res.Body);
    } catch (err: unknown) {
      if (notFound(err)) return undefined;
      throw mapS3Error(err);
    }
  }

  /**
   * A small JSON object written only under `condition`; resolves its new ETag. A refused condition
   * is UPLOAD_BUSY (409: another request changed it first); other failures are mapped.
   */
  async putJson(key: string, value: unknown, condition: PutCondition): Promise<string | undefined> {
    const send = (c: PutCondition) =>
      this.client.send(
        new PutObjectCommand({
          Bucket: this.name,
          Key: key,
          Body: JSON.stringify(value),
          ContentType: 'application/json',
          ...c,
        }),
      );
    const bare = (c: PutCondition) => (c.IfMatch ? { IfMatch: c.IfMatch.replaceAll('"', '') } : c);
    try {
      try {
        return (await send(this.bareEtags ? bare(condition) : condition)).ETag;
      } catch (err: unknown) {
        // Refused although the ETag is current: this store wants it bare.
        if (!preconditionFailed(err) || !condition.IfMatch || this.bareEtags) throw err;
        const current = await this.head(key);
        if (current?.ETag !== condition.IfMatch) throw err;
        this.bareEtags = true;
        return (await send(bare(condition))).ETag;
      }
    } catch (err: unknown) {
      if (preconditionFailed(err))
        throw new TransferError('UPLOAD_BUSY', 'Another request changed this upload first.');
      throw mapS3Error(err);
    }
  }

  /** A small JSON object and the ETag it was read with, or undefined if there is none. */
  async getJson<T>(key: string): Promise<{ value: T; etag: string | undefined } | undefined> {
    try {
      const res = await this.client.send(new GetObjectCommand({ Bucket: this.name, Key: key }));
      return { value: JSON.parse((await readBody(res.Body)).toString('utf8')) as T, etag: res.ETag };
    } catch (err: unknown) {
      if (notFound(err)) return undefined;
      throw mapS3Error(err);
    }
  }

  async delete(key: string): Promise<void> {
    await this.client.send(new DeleteObjectCommand({ Bucket: this.name, Key: key }));
  }

  /**
   * Deletes these keys, 16 at a time. One DELETE per key: DeleteObjects needs a Content-MD5 that
   * not every store version accepts.
   */
  async deleteAll(keys: readonly string[]): Promise<void> {
    const limit = pLimit(16);
    try {
      await Promise.all(keys.map((key) => limit(() => this.delete(key))));
    } catch (err: unknown) {
      throw mapS3Error(err);
    }
  }

  /** Deletes every object under a prefix. */
  async deleteUnder(prefix: string): Promise<void> {
    const keys: string[] = [];
    try {
      for await (const o of this.list(prefix)) if (o.Key) keys.push(o.Key);
    } catch (err: unknown) {
      throw mapS3Error(err);
    }
    await this.deleteAll(keys);
  }

  /** Every object under a prefix, a page (at most 1,000) at a time. */
  async *list(prefix: string): AsyncIterable<ListedObject> {
    let token: string | undefined;
    do {
      const page = await this.client.send(
        new ListObjectsV2Command({ Bucket: this.name, Prefix: prefix, ContinuationToken: token }),
      );
      for (const o of page.Contents ?? []) yield o;
      token = page.IsTruncated ? page.NextContinuationToken : undefined;
    } while (token);
  }
}
