/** The S3 backend (on Ceph RGW, or $S3_ENDPOINT) against the storage conformance suite. */
import { describe } from 'node:test';
import { emptyPrefix, s3Endpoint, s3Storage } from './helpers/s3.js';
import { runStorageConformance } from './storage-conformance.js';

const ep = s3Endpoint();

if (typeof ep === 'string') {
  describe('storage conformance: S3', { skip: ep }, () => undefined);
} else {
  runStorageConformance('S3 (Ceph RGW)', async () => {
    const storage = s3Storage(ep);
    return {
      storage,
      dispose: async () => {
        const cleaner = s3Storage(ep, storage.prefix);
        await emptyPrefix(cleaner);
        await cleaner.close();
      },
    };
  });
}
