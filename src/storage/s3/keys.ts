/** The bucket layout's key names, in one place (the layout itself is described in s3.ts). */
import { randomBytes } from 'node:crypto';

export class KeyLayout {
  constructor(readonly prefix: string) {}

  /** Everything of one upload: its plan and its chunks. */
  upload(fileId: string): string {
    return `${this.prefix}uploads/${fileId}/`;
  }

  uploads(): string {
    return `${this.prefix}uploads/`;
  }

  /** The plan from before sessions. */
  plan(fileId: string): string {
    return `${this.upload(fileId)}plan.json`;
  }

  sessions(fileId: string): string {
    return `${this.upload(fileId)}sessions/`;
  }

  /** One session's plan; null: the plan from before sessions. */
  sessionPlan(fileId: string, session: string | null): string {
    return session === null ? this.plan(fileId) : `${this.sessions(fileId)}${session}.json`;
  }

  /** The upload's multipart upload and the MD5/SHA-256 folded so far (part-uploads.ts). */
  parts(fileId: string): string {
    return `${this.upload(fileId)}parts.json`;
  }

  chunks(fileId: string): string {
    return `${this.upload(fileId)}chunks/`;
  }

  chunk(fileId: string, md5: string): string {
    return `${this.chunks(fileId)}${md5}`;
  }

  file(fileId: string): string {
    return `${this.prefix}files/${fileId}`;
  }

  temp(): string {
    return `${this.prefix}tmp/`;
  }

  /** A fresh staging key; the time first, so a listing shows the oldest first. */
  newTemp(): string {
    return `${this.temp()}${Date.now()}-${randomBytes(8).toString('hex')}`;
  }
}
