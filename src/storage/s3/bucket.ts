/** The few object operations every part of the backend uses, on one bucket. */
import {
  DeleteObjectCommand,
  GetObjectCommand,
  HeadObjectCommand,
  type HeadObjectCommandOutput,
  ListObjectsV2Command,
  type ListObjectsV2CommandOutput,
  type S3Client,
} from '@aws-sdk/client-s3';
import { mapS3Error, notFound } from './errors.js';
import type { KeyLayout } from './keys.js';

export type ListedObject = NonNullable<ListObjectsV2CommandOutput['Contents']>[number];

export async function readBody(body: unknown): Promise<Buffer> {
  const bytes = await (body as { transformToByteArray(): Promise<Uint8Array> }).transformToByteArray();
  return Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
}

export class Bucket {
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

  async delete(key: string): Promise<void> {
    await this.client.send(new DeleteObjectCommand({ Bucket: this.name, Key: key }));
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
