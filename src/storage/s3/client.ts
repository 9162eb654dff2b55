/** Building the S3 client from the backend's options. */
import { S3Client } from '@aws-sdk/client-s3';

// The SDK is pinned (package.json) to a release that supports Node 20; its notice that later
// releases will need Node 22 is for whoever upgrades it, not for every server start.
process.env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED ??= 'true';

export interface S3ClientOptions {
  /** e.g. http://127.0.0.1:7480 for Ceph RGW; undefined for AWS. */
  endpoint?: string | undefined;
  region?: string | undefined;
  /** Credentials; default: the standard AWS environment variables and profiles. */
  accessKeyId?: string | undefined;
  secretAccessKey?: string | undefined;
  /** Path-style URLs (needed by Ceph and MinIO); default true when an endpoint is given. */
  forcePathStyle?: boolean | undefined;
}

export function createS3Client(options: S3ClientOptions): S3Client {
  return new S3Client({
    endpoint: options.endpoint,
    region: options.region ?? process.env.AWS_REGION ?? 'us-east-1',
    forcePathStyle: options.forcePathStyle ?? options.endpoint !== undefined,
    credentials:
      options.accessKeyId && options.secretAccessKey
        ? { accessKeyId: options.accessKeyId, secretAccessKey: options.secretAccessKey }
        : undefined,
    // Checksums only where S3 requires them: Ceph and MinIO versions differ in what they accept.
    requestChecksumCalculation: 'WHEN_REQUIRED',
    responseChecksumValidation: 'WHEN_REQUIRED',
    maxAttempts: 4,
  });
}
