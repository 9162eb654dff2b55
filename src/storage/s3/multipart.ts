/**
 * Building one object from parts (assembly of a seed upload, publication of a stream upload):
 * the multipart upload itself, parts copied inside the store, and parts streamed from bytes.
 */
import {
  AbortMultipartUploadCommand,
  CompleteMultipartUploadCommand,
  CreateMultipartUploadCommand,
  UploadPartCommand,
  UploadPartCopyCommand,
} from '@aws-sdk/client-s3';
import pLimit from 'p-limit';
import type { Bucket } from './bucket.js';
import { STREAM_PART } from './limits.js';

/** A multipart upload to `Key`: completed with the parts' ETags, or aborted on any failure. */
export async function multipartUpload(
  bucket: Bucket,
  Key: string,
  Metadata: Record<string, string>,
  parts: (uploadId: string) => Promise<string[]>,
): Promise<void> {
  const { client, name: Bucket } = bucket;
  const created = await client.send(new CreateMultipartUploadCommand({ Bucket, Key, Metadata }));
  const UploadId = created.UploadId!;
  try {
    const etags = await parts(UploadId);
    await client.send(
      new CompleteMultipartUploadCommand({
        Bucket,
        Key,
        UploadId,
        MultipartUpload: { Parts: etags.map((ETag, i) => ({ ETag, PartNumber: i + 1 })) },
      }),
      // The store may join the parts before it answers.
      bucket.copyCall,
    );
  } catch (err: unknown) {
    await client.send(new AbortMultipartUploadCommand({ Bucket, Key, UploadId })).catch(() => undefined);
    throw err;
  }
}

/** One part per source object, copied inside the store (at most four at once); their ETags. */
export function copyParts(bucket: Bucket, Key: string, UploadId: string, sources: readonly string[]) {
  const limit = pLimit(4);
  return Promise.all(
    sources.map((source, i) =>
      limit(async () => {
        const res = await bucket.client.send(
          new UploadPartCopyCommand({
            Bucket: bucket.name,
            Key,
            UploadId,
            PartNumber: i + 1,
            CopySource: `${bucket.name}/${source}`,
          }),
          bucket.copyCall,
        );
        return res.CopyPartResult?.ETag ?? '';
      }),
    ),
  );
}

/** The bytes uploaded as parts of STREAM_PART bytes (the last smaller); their ETags. */
export async function streamParts(
  bucket: Bucket,
  Key: string,
  UploadId: string,
  bytes: AsyncIterable<Buffer>,
): Promise<string[]> {
  const etags: string[] = [];
  let pending: Buffer[] = [];
  let pendingBytes = 0;
  const flush = async () => {
    const Body = Buffer.concat(pending, pendingBytes);
    pending = [];
    pendingBytes = 0;
    const res = await bucket.client.send(
      new UploadPartCommand({ Bucket: bucket.name, Key, UploadId, PartNumber: etags.length + 1, Body }),
    );
    etags.push(res.ETag ?? '');
  };
  for await (const buf of bytes) {
    pending.push(buf);
    pendingBytes += buf.length;
    if (pendingBytes >= STREAM_PART) await flush();
  }
  if (pendingBytes > 0) await flush();
  return etags;
}
