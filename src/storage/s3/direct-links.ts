/**
 * `--s3-redirect`: a published file's bytes served by the store itself. The /upload/ route,
 * once it has done every check it does for a download (access control, the link's capability,
 * the file's existence), answers 302 to a presigned URL of `files/<key>` made here, instead of
 * reading the object through this process.
 *
 * - One URL per method: a URL is signed for GET or for HEAD (the method is part of the SigV4
 *   signature: a HEAD on a GET URL is 403), so each request is redirected to its own.
 * - The answer's headers that the store can be asked to send are carried by the URL's
 *   `response-content-type`, `response-content-disposition` and `response-cache-control`
 *   (signed with it: the holder of the URL cannot change them): the values our own answer would
 *   have had. What no store sends (nosniff, the CSP sandbox) is lost: docs/deploy-s3.md.
 * - Signed locally (no request to the store) with the server's credentials, for `publicEndpoint`
 *   when clients reach the store at another address than this process does: the host is part
 *   of the signature, so the URL must name the host the client will call.
 * - Valid for `ttlSeconds` from now; a URL whose credentials are temporary (an STS role) ends
 *   with them, whichever comes first. A request started before the expiry runs to its end.
 */
import { GetObjectCommand, HeadObjectCommand, type S3Client } from '@aws-sdk/client-s3';
import { getSignedUrl } from '@aws-sdk/s3-request-presigner';
import type { DirectResponse } from '../storage.js';
import { createS3Client, type S3ClientOptions } from './client.js';
import { MAX_REDIRECT_TTL_SECONDS } from './limits.js';

export class DirectLinks {
  private readonly signer: S3Client;

  constructor(
    options: S3ClientOptions,
    private readonly bucket: string,
    private readonly ttlSeconds: number,
    publicEndpoint: string | undefined,
  ) {
    // The configuration schema checks it for the CLI; a library caller gets the same bound here,
    // at start, rather than a failure from the signer at the first download.
    if (!Number.isInteger(ttlSeconds) || ttlSeconds < 1 || ttlSeconds > MAX_REDIRECT_TTL_SECONDS)
      throw new Error(
        `S3 storage: redirectTtlSeconds must be a whole number of seconds from 1 to ${MAX_REDIRECT_TTL_SECONDS} (7 days), got ${ttlSeconds}`,
      );
    // Path-style or not as the server's own client: the same store, reached by another name.
    this.signer = createS3Client({
      ...options,
      endpoint: publicEndpoint ?? options.endpoint,
      forcePathStyle: options.forcePathStyle ?? options.endpoint !== undefined,
    });
  }

  url(key: string, method: 'GET' | 'HEAD', response: DirectResponse): Promise<string> {
    const input = {
      Bucket: this.bucket,
      Key: key,
      ResponseContentType: response.contentType,
      ResponseContentDisposition: response.contentDisposition,
      ResponseCacheControl: response.cacheControl,
    };
    const command = method === 'HEAD' ? new HeadObjectCommand(input) : new GetObjectCommand(input);
    return getSignedUrl(this.signer, command, { expiresIn: this.ttlSeconds });
  }

  close(): void {
    this.signer.destroy();
  }
}
