/** The S3 backend (on Ceph RGW, or $S3_ENDPOINT) against the storage conformance suite, plus its sweeper. */
import assert from 'node:assert/strict';
import { Readable } from 'node:stream';
import { describe, it } from 'node:test';
import {
  CreateMultipartUploadCommand,
  ListMultipartUploadsCommand,
  ListObjectsV2Command,
} from '@aws-sdk/client-s3';
import { randomBytesSeeded } from './helpers/bytes.js';
import { emptyPrefix, s3Endpoint, s3Storage } from './helpers/s3.js';
import { runStorageConformance, runStreamStoreConformance } from './storage-conformance.js';

const ep = s3Endpoint();

if (typeof ep === 'string') {
  describe('storage conformance: S3', { skip: ep }, () => undefined);
} else {
  const s3Fixture = async () => {
    const storage = s3Storage(ep);
    return {
      storage,
      reopen: () => s3Storage(ep, storage.prefix),
      dispose: async () => {
        const cleaner = s3Storage(ep, storage.prefix);
        await emptyPrefix(cleaner);
        await cleaner.close();
      },
    };
  };
  runStorageConformance('S3 (Ceph RGW)', s3Fixture);
  runStreamStoreConformance('S3 (Ceph RGW)', s3Fixture);

  it('S3: the sweeper deletes stale staged chunks and aborts dangling multipart uploads, not fresh ones', async () => {
    const s = s3Storage(ep);
    try {
      await s.init();
      // What a process killed mid-request leaves: a staged chunk and an unfinished multipart upload.
      await s.stageChunk(Readable.from([randomBytesSeeded(1000, 5)]), 1e6);
      await s.client.send(
        new CreateMultipartUploadCommand({ Bucket: s.bucket, Key: `${s.prefix}files/dangling` }),
      );
      const uploads = async () =>
        (await s.client.send(new ListMultipartUploadsCommand({ Bucket: s.bucket, Prefix: s.prefix })))
          .Uploads ?? [];
      const tmpKeys = async () =>
        (await s.client.send(new ListObjectsV2Command({ Bucket: s.bucket, Prefix: `${s.prefix}tmp/` })))
          .Contents ?? [];
      // Fresh: kept (another process may still be writing them).
      assert.equal(await s.sweepTemp(60 * 60 * 1000), 0);
      assert.equal((await uploads()).length, 1);
      // This process still owns its staged chunk: kept even when old enough.
      await new Promise((r) => setTimeout(r, 1100));
      assert.equal(await s.sweepTemp(1), 1, 'only the dangling multipart upload');
      assert.deepEqual(await uploads(), []);
      assert.equal((await tmpKeys()).length, 1);
      // Once nobody owns it (the process died), the staged chunk goes too.
      const other = s3Storage(ep, s.prefix);
      assert.equal(await other.sweepTemp(1), 1);
      assert.equal((await tmpKeys()).length, 0);
      await other.close();
    } finally {
      await emptyPrefix(s);
      await s.close();
    }
  });
}
