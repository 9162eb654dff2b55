/**
 * An S3 endpoint for the tests: $S3_ENDPOINT (with the standard AWS_* credentials) if set, else
 * the project's one-node Ceph cluster (scripts/ceph.sh start: needs root and Debian's ceph
 * packages). Locally the S3 tests skip with one line when neither can be had; under CI=true they
 * must run.
 */
import { execFileSync, spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { join } from 'node:path';
import { S3Storage } from '../../src/storage/s3/s3.js';
import { ROOT } from './child-server.js';

export interface S3Endpoint {
  endpoint: string;
  accessKeyId: string;
  secretAccessKey: string;
  bucket: string;
}

let cached: S3Endpoint | string | undefined;

/** The endpoint, or a skip message. */
export function s3Endpoint(): S3Endpoint | string {
  if (cached !== undefined) return cached;
  cached = find();
  if (typeof cached === 'string' && process.env.CI === 'true')
    throw new Error(`S3 tests cannot run in CI: ${cached}`);
  return cached;
}

function find(): S3Endpoint | string {
  const bucket = process.env.S3_TEST_BUCKET ?? 'rt-test';
  if (process.env.S3_ENDPOINT) {
    return {
      endpoint: process.env.S3_ENDPOINT,
      accessKeyId: process.env.AWS_ACCESS_KEY_ID ?? '',
      secretAccessKey: process.env.AWS_SECRET_ACCESS_KEY ?? '',
      bucket,
    };
  }
  const script = join(ROOT, 'scripts', 'ceph.sh');
  if (spawnSync('sh', ['-c', 'command -v radosgw'], { stdio: 'ignore' }).status !== 0) {
    return 'no S3 endpoint: set S3_ENDPOINT, or apt-get install -y ceph-mon ceph-osd radosgw ceph-common';
  }
  try {
    // Up to 5 minutes: a start waits for a cluster its watcher is mending (scripts/ceph.sh).
    execFileSync(script, ['start'], { stdio: ['ignore', 'ignore', 'pipe'], timeout: 420_000 });
  } catch (err: unknown) {
    return `no S3 endpoint: scripts/ceph.sh start failed: ${String((err as { stderr?: Buffer }).stderr ?? err).trim()}`;
  }
  const env = execFileSync(script, ['env'], { encoding: 'utf8' });
  const get = (name: string) => new RegExp(`${name}=(\\S+)`).exec(env)?.[1] ?? '';
  return {
    endpoint: get('S3_ENDPOINT'),
    accessKeyId: get('AWS_ACCESS_KEY_ID'),
    secretAccessKey: get('AWS_SECRET_ACCESS_KEY'),
    bucket,
  };
}

/** A storage over a fresh prefix of the test bucket; dispose() deletes what it wrote. */
export function s3Storage(ep: S3Endpoint, prefix = `t-${randomBytes(6).toString('hex')}/`): S3Storage {
  return new S3Storage({ ...ep, prefix });
}

export async function emptyPrefix(s: S3Storage): Promise<void> {
  const { ListObjectsV2Command, DeleteObjectCommand } = await import('@aws-sdk/client-s3');
  for (;;) {
    const page = await s.client.send(new ListObjectsV2Command({ Bucket: s.bucket, Prefix: s.prefix }));
    const keys = (page.Contents ?? []).map((o) => o.Key!).filter(Boolean);
    if (keys.length === 0) return;
    await Promise.all(keys.map((Key) => s.client.send(new DeleteObjectCommand({ Bucket: s.bucket, Key }))));
  }
}

/** Aborts the multipart uploads left in progress under the storage's prefix (e.g. a peer's). */
export async function abortMultipartUploads(s: S3Storage): Promise<void> {
  const { ListMultipartUploadsCommand, AbortMultipartUploadCommand } = await import('@aws-sdk/client-s3');
  for (;;) {
    const page = await s.client.send(new ListMultipartUploadsCommand({ Bucket: s.bucket, Prefix: s.prefix }));
    const uploads = (page.Uploads ?? []).filter((u) => u.Key && u.UploadId);
    if (uploads.length === 0) return;
    await Promise.all(
      uploads.map((u) =>
        s.client.send(
          new AbortMultipartUploadCommand({ Bucket: s.bucket, Key: u.Key, UploadId: u.UploadId }),
        ),
      ),
    );
  }
}

/** `resumable serve` options for the S3 backend at this endpoint under `prefix`. */
export function s3ServeArgs(ep: S3Endpoint, prefix: string): string[] {
  return [
    ...['--storage', 's3', '--s3-endpoint', ep.endpoint, '--s3-bucket', ep.bucket, '--s3-prefix', prefix],
    ...['--s3-access-key', ep.accessKeyId, '--s3-secret-key', ep.secretAccessKey],
  ];
}
