/** An upload's plan, and the upload as a whole: listing and removing everything under it. */
import { PutObjectCommand } from '@aws-sdk/client-s3';
import { isFileKey } from '../../protocol/ids.js';
import type { UploadPlan, UploadSummary } from '../storage.js';
import type { Bucket } from './bucket.js';
import { mapS3Error } from './errors.js';

export class Uploads {
  constructor(private readonly bucket: Bucket) {}

  async readPlan(fileId: string, session: string | null = null): Promise<UploadPlan | undefined> {
    const bytes = await this.bucket.getBytes(this.bucket.keys.sessionPlan(fileId, session));
    try {
      const plan = bytes && (JSON.parse(bytes.toString('utf8')) as UploadPlan);
      return plan && session !== null ? { ...plan, fileId, session } : plan;
    } catch (err: unknown) {
      throw mapS3Error(err);
    }
  }

  /** The plan from before sessions, if any, then every session's (a listing and a GET each). */
  async listPlans(fileId: string): Promise<UploadPlan[]> {
    const plans: UploadPlan[] = [];
    const legacy = await this.readPlan(fileId, null);
    if (legacy) plans.push(legacy);
    const prefix = this.bucket.keys.sessions(fileId);
    const sessions: string[] = [];
    try {
      for await (const o of this.bucket.list(prefix)) {
        const session = /^([0-9a-f]{32})\.json$/.exec((o.Key ?? '').slice(prefix.length))?.[1];
        if (session) sessions.push(session);
      }
    } catch (err: unknown) {
      throw mapS3Error(err);
    }
    for (const session of sessions.sort()) {
      const plan = await this.readPlan(fileId, session);
      if (plan) plans.push(plan);
    }
    return plans;
  }

  async removePlan(fileId: string, session: string | null): Promise<void> {
    try {
      await this.bucket.delete(this.bucket.keys.sessionPlan(fileId, session));
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
          Key: this.bucket.keys.sessionPlan(plan.fileId, plan.session ?? null),
          Body: JSON.stringify(plan),
          ContentType: 'application/json',
        }),
      );
    } catch (err: unknown) {
      throw mapS3Error(err);
    }
  }

  remove(fileId: string): Promise<void> {
    return this.bucket.deleteUnder(this.bucket.keys.upload(fileId));
  }

  /** Every upload with an object under it, and when its newest object was written. */
  async *list(): AsyncIterable<UploadSummary> {
    const prefix = this.bucket.keys.uploads();
    const last = new Map<string, number>();
    for await (const o of this.bucket.list(prefix)) {
      const fileId = (o.Key ?? '').slice(prefix.length).split('/')[0] ?? '';
      if (!isFileKey(fileId)) continue;
      last.set(fileId, Math.max(last.get(fileId) ?? 0, o.LastModified?.getTime() ?? 0));
    }
    for (const [fileId, lastActivity] of last) yield { fileId, lastActivity };
  }
}
