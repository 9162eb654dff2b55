/** An upload's plan, and the upload as a whole: listing and removing everything under it. */
import { PutObjectCommand } from '@aws-sdk/client-s3';
import pLimit from 'p-limit';
import { isMd5Hex } from '../../protocol/ids.js';
import type { UploadPlan, UploadSummary } from '../storage.js';
import type { Bucket } from './bucket.js';
import { mapS3Error } from './errors.js';

export class Uploads {
  constructor(private readonly bucket: Bucket) {}

  async readPlan(fileId: string): Promise<UploadPlan | undefined> {
    const bytes = await this.bucket.getBytes(this.bucket.keys.plan(fileId));
    try {
      return bytes && (JSON.parse(bytes.toString('utf8')) as UploadPlan);
    } catch (err: unknown) {
      throw mapS3Error(err);
    }
  }

  /** One PUT: S3 replaces an object atomically, so a reader sees the old plan or the new one. */
  async writePlan(plan: UploadPlan): Promise<void> {
    try {
      await this.bucket.client.send(
        new PutObjectCommand({
          Bucket: this.bucket.name,
          Key: this.bucket.keys.plan(plan.fileId),
          Body: JSON.stringify(plan),
          ContentType: 'application/json',
        }),
      );
    } catch (err: unknown) {
      throw mapS3Error(err);
    }
  }

  async remove(fileId: string): Promise<void> {
    const keys: string[] = [];
    try {
      for await (const o of this.bucket.list(this.bucket.keys.upload(fileId))) if (o.Key) keys.push(o.Key);
      // One DELETE per key: DeleteObjects needs a Content-MD5 that not every store version accepts.
      const limit = pLimit(16);
      await Promise.all(keys.map((key) => limit(() => this.bucket.delete(key))));
    } catch (err: unknown) {
      throw mapS3Error(err);
    }
  }

  /** Every upload with an object under it, and when its newest object was written. */
  async *list(): AsyncIterable<UploadSummary> {
    const prefix = this.bucket.keys.uploads();
    const last = new Map<string, number>();
    for await (const o of this.bucket.list(prefix)) {
      const fileId = (o.Key ?? '').slice(prefix.length).split('/')[0] ?? '';
      if (!isMd5Hex(fileId)) continue;
      last.set(fileId, Math.max(last.get(fileId) ?? 0, o.LastModified?.getTime() ?? 0));
    }
    for (const [fileId, lastActivity] of last) yield { fileId, lastActivity };
  }
}
