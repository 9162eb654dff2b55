/** S3's part sizes, and the ones this backend chooses. */
const MiB = 1024 * 1024;

/** S3's smallest part (all but the last). */
export const MIN_PART = 5 * MiB;
/** Parts of a file assembled by streaming; files up to this size are assembled in memory. */
export const STREAM_PART = 8 * MiB;
/** S3's largest single copy source for UploadPartCopy. */
export const MAX_COPY_PART = 5 * 1024 * MiB;
/** S3's most parts in one multipart upload. */
export const MAX_PARTS = 10_000;
