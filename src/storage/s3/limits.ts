/** S3's part sizes and URL lifetimes, and the ones this backend chooses (no SDK import: the config reads it). */
const MiB = 1024 * 1024;

/** S3's smallest part (all but the last). */
export const MIN_PART = 5 * MiB;
/** Parts of a file assembled by streaming; files up to this size are assembled in memory. */
export const STREAM_PART = 8 * MiB;
/** S3's largest single copy source for UploadPartCopy. */
export const MAX_COPY_PART = 5 * 1024 * MiB;
/** S3's most parts in one multipart upload. */
export const MAX_PARTS = 10_000;

/** SigV4's longest validity of a presigned URL: 7 days. */
export const MAX_REDIRECT_TTL_SECONDS = 7 * 24 * 60 * 60;
/** `--s3-redirect-ttl`'s default: long enough to start any download, short for a leaked URL. */
export const DEFAULT_REDIRECT_TTL_SECONDS = 300;
