import { extension } from 'mime-types';
import { xxh64Checksum } from '../core/chunk-checksum.js';
import { downloadTo } from '../core/download.js';
import { hashSource, withMd5, withSha256 } from '../core/hashing.js';
import type { ByteSource, ChunkChecksums, FileHasher, HashCache, Hasher } from '../core/ports.js';
import { findPrevious } from '../core/previous-uploads.js';
import { terminate as terminateUpload } from '../core/terminate.js';
import type {
  DownloadOptions,
  FindPreviousOptions,
  PreviousUpload,
  ResumableClient,
  TerminateOptions,
  UploadKey,
  UploadOptions,
  UploadResult,
} from '../core/types.js';
import { uploadSource } from '../core/upload.js';
import { type DownloadFileOptions, destinationPath, nodeTransport } from './download-file.js';
import { fileSource } from './file-source.js';
import { FileTarget } from './file-target.js';
import { FileHashCache } from './hash-cache.js';
import { nodeMd5, nodeSha256 } from './node-md5.js';
import { hashOnTwoCores, parallelHasher } from './parallel-hasher.js';

export { TransferError } from '../../protocol/errors.js';
export type { ByteSource, HashCache } from '../core/ports.js';
export type * from '../core/types.js';
export { defaultChunkSize } from '../core/upload.js';
export { clearHashCache, defaultCacheDir as hashCacheDir, FileHashCache } from './hash-cache.js';

/** One pass; files over 16 MiB hash the chunks on a second thread (see parallel-hasher.ts). */
export const nodeHasher: Hasher = (source, chunkSize, onBytes, signal, onChunk) =>
  source.size > 16 * 1024 * 1024
    ? parallelHasher(source, chunkSize, onBytes, signal, onChunk)
    : hashSource(source, chunkSize, withSha256(withMd5(nodeMd5), nodeSha256), onBytes, signal, onChunk);

/** The file's MD5 and SHA-256 without its chunk MD5s (a small file's come along: one pass either way). */
const nodeFileHasher: FileHasher = (source, chunkSize, onBytes, signal) =>
  source.size > 16 * 1024 * 1024
    ? hashOnTwoCores(source, chunkSize, onBytes, signal, undefined, false)
    : nodeHasher(source, chunkSize, onBytes, signal);

/** A deferred upload's chunks go with their xxh64 where the server takes it (PROTOCOL.md §Chunk checksums). */
const nodeChecksums: ChunkChecksums = {
  algorithm: 'xxh64',
  fileHasher: nodeFileHasher,
  checksum: xxh64Checksum,
};

export interface NodeUploadOptions extends UploadOptions {
  /** Where hashes of unchanged files are remembered; false: never. Default ~/.cache/resumable-transfer. */
  hashCache?: HashCache | false;
}

export interface NodeDownloadOptions extends DownloadOptions, Pick<DownloadFileOptions, 'sync'> {
  /** A file path, or an existing folder (the server's file name is used). Default: the current folder. */
  destination?: string;
}

export interface NodeFindPreviousOptions extends FindPreviousOptions {
  /** The hash cache upload() is given (default ~/.cache/resumable-transfer; false: none, so nothing is found). */
  hashCache?: HashCache | false;
}

/** `.png` for image/png; undefined for a type without a known extension. */
function extensionForType(type: string): string | undefined {
  const ext = extension(type);
  return ext ? `.${ext}` : undefined;
}

function hashCacheOf(option: HashCache | false | undefined): HashCache | undefined {
  return option === false ? undefined : (option ?? new FileHashCache());
}

/** Uploads a file (path) and resolves with its URL. Call again after any interruption to resume. */
export async function upload(source: string | ByteSource, options: NodeUploadOptions): Promise<UploadResult> {
  const src = typeof source === 'string' ? await fileSource(source) : source;
  try {
    return await uploadSource(
      src,
      { ...options, fetch: nodeTransport(options) },
      {
        hasher: nodeHasher,
        // Both hashers tell each chunk's id as it is hashed: a deferred upload sends meanwhile.
        hasherTellsChunks: true,
        checksums: nodeChecksums,
        hashCache: hashCacheOf(options.hashCache),
        createSha256: nodeSha256,
        extensionForType,
      },
    );
  } finally {
    // A source made here is closed here; one passed in is the caller's.
    if (src !== source) await src.close?.();
  }
}

/**
 * The uploads of this file the hash cache knows (for the chunk size upload() would plan with these
 * options), each with what the server holds of it: offer "resume", or terminate() it.
 */
export async function findPreviousUploads(
  source: string | ByteSource,
  options: NodeFindPreviousOptions,
): Promise<PreviousUpload[]> {
  const src = typeof source === 'string' ? await fileSource(source) : source;
  return findPrevious(src, { ...options, fetch: nodeTransport(options) }, hashCacheOf(options.hashCache));
}

/**
 * Deletes an upload on the server (a PreviousUpload, or the {fileId, sha256} it was keyed by).
 * Resolves true when deleted, false when the server kept no upload of it for this client.
 */
export function terminate(upload: UploadKey, options: TerminateOptions): Promise<boolean> {
  return terminateUpload(upload, { ...options, fetch: nodeTransport(options) });
}

/** Downloads a URL to disk and resolves with the path. Call again after any interruption to resume. */
export async function download(url: string, options: NodeDownloadOptions = {}): Promise<string> {
  return downloadTo(
    url,
    async (info) => new FileTarget(await destinationPath(options.destination, info.name), options.sync),
    { ...options, fetch: nodeTransport(options) },
  );
}

export const client = { upload, download } satisfies ResumableClient<
  string | ByteSource,
  NodeDownloadOptions,
  string
>;
