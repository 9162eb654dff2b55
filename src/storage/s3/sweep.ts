/**
 * Removing what dead processes left behind: staged chunks under tmp/ and unfinished multipart
 * uploads, judged by age alone (the store keeps no owner), except keys this process still owns
 * and the multipart uploads that hold an upload's parts (they live as long as the upload).
 */
import { AbortMultipartUploadCommand, ListMultipartUploadsCommand } from '@aws-sdk/client-s3';
import type { Bucket } from './bucket.js';
import { mapS3Error } from './errors.js';

export async function sweepTemp(
  bucket: Bucket,
  olderThanMs: number,
  owned: ReadonlySet<string>,
  /** Whether a multipart upload to files/<key> holds an upload's parts (part-uploads.ts): kept. */
  isUploadsParts: (fileKey: string, uploadId: string) => Promise<boolean>,
): Promise<number> {
  const files = bucket.keys.file('');
  const now = Date.now();
  const stale = (at: Date | undefined) => now - (at?.getTime() ?? now) >= olderThanMs;
  let removed = 0;
  try {
    for await (const o of bucket.list(bucket.keys.temp())) {
      if (!o.Key || owned.has(o.Key) || !stale(o.LastModified)) continue;
      await bucket.delete(o.Key);
      removed++;
    }
    for await (const u of multipartUploads(bucket)) {
      if (!u.Key || !u.UploadId || owned.has(u.Key) || !stale(u.Initiated)) continue;
      if (u.Key.startsWith(files) && (await isUploadsParts(u.Key.slice(files.length), u.UploadId))) continue;
      await bucket.client
        .send(new AbortMultipartUploadCommand({ Bucket: bucket.name, Key: u.Key, UploadId: u.UploadId }))
        .catch(() => undefined);
      removed++;
    }
  } catch (err: unknown) {
    throw mapS3Error(err);
  }
  return removed;
}

/** Every unfinished multipart upload under the prefix (a process died mid-chunk or mid-assembly). */
async function* multipartUploads(bucket: Bucket) {
  let keyMarker: string | undefined;
  let idMarker: string | undefined;
  do {
    const page = await bucket.client.send(
      new ListMultipartUploadsCommand({
        Bucket: bucket.name,
        Prefix: bucket.keys.prefix,
        KeyMarker: keyMarker,
        UploadIdMarker: idMarker,
      }),
    );
    yield* page.Uploads ?? [];
    keyMarker = page.IsTruncated ? page.NextKeyMarker : undefined;
    idMarker = page.IsTruncated ? page.NextUploadIdMarker : undefined;
  } while (keyMarker);
}
