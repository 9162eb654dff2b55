/**
 * @tus/server with @tus/s3-store, as the peer of our S3 backend (issue #18). argv: port, bucket,
 * key prefix; env: S3_ENDPOINT, AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY (AWS_REGION optional).
 * Parts of 8 MiB (the store's default, set here so that the figure says what it measured).
 *
 * The store has no key prefix of its own: an upload's id is `<prefix><random>` (its objects are
 * `<id>`, `<id>.info` and `<id>.part`), and the upload URL carries only `<random>`.
 */
import { randomBytes } from 'node:crypto';
import { createServer } from 'node:http';
import { S3Store } from '@tus/s3-store';
import { Server } from '@tus/server';

const [port, bucket, prefix] = process.argv.slice(2) as [string, string, string];
const datastore = new S3Store({
  partSize: 8 * 1024 * 1024,
  s3ClientConfig: {
    bucket,
    endpoint: process.env.S3_ENDPOINT!,
    region: process.env.AWS_REGION ?? 'us-east-1',
    forcePathStyle: true,
    // As our S3 client (src/storage/s3/client.ts): with the SDK's default (a checksum on every
    // request, aws-chunked for a stream of unknown length) Ceph RGW failed every part.
    requestChecksumCalculation: 'WHEN_REQUIRED',
    responseChecksumValidation: 'WHEN_REQUIRED',
    credentials: {
      accessKeyId: process.env.AWS_ACCESS_KEY_ID ?? '',
      secretAccessKey: process.env.AWS_SECRET_ACCESS_KEY ?? '',
    },
  },
});
const tus = new Server({
  path: '/files',
  datastore,
  namingFunction: () => `${prefix}${randomBytes(16).toString('hex')}`,
  generateUrl: (_req, { proto, host, path, id }) => `${proto}://${host}${path}/${id.slice(prefix.length)}`,
  getFileIdFromRequest: (_req, last) => (last ? `${prefix}${last}` : undefined),
});
createServer((req, res) => {
  void tus.handle(req, res);
}).listen(Number(port), '127.0.0.1');
