/** The Node build of the client: files on disk, node:crypto MD5, a hash cache under ~/.cache. */
import { mkdir, stat } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { downloadTo } from '../core/download.js';
import { hashSource, withMd5, withSha256 } from '../core/hashing.js';
import { withCredentials } from '../core/http.js';
import type { ByteSource, HashCache, Hasher } from '../core/ports.js';
import type { DownloadOptions, ResumableClient, UploadOptions, UploadResult } from '../core/types.js';
import { uploadSource } from '../core/upload.js';
import { fileSource } from './file-source.js';
import { FileTarget } from './file-target.js';
import { FileHashCache } from './hash-cache.js';
import { httpFetch } from './http-fetch.js';
import { nodeMd5, nodeSha256 } from './node-md5.js';
import { parallelHasher } from './parallel-hasher.js';

export { TransferError } from '../../protocol/errors.js';
export type { ByteSource, HashCache } from '../core/ports.js';
export type * from '../core/types.js';
export { defaultChunkSize } from '../core/upload.js';
export { FileHashCache } from './hash-cache.js';

/** One pass; files over 16 MiB hash the chunks on a second thread (see parallel-hasher.ts). */
export const nodeHasher: Hasher = (source, chunkSize, onBytes, signal) =>
  source.size > 16 * 1024 * 1024
    ? parallelHasher(source, chunkSize, onBytes, signal)
    : hashSource(source, chunkSize, withSha256(withMd5(nodeMd5), nodeSha256), onBytes, signal);

export interface NodeUploadOptions extends UploadOptions {
  /** Where hashes of unchanged files are remembered; false: never. Default ~/.cache/resumable-transfer. */
  hashCache?: HashCache | false;
}

export interface NodeDownloadOptions extends DownloadOptions {
  /** A file path, or an existing folder (the server's file name is used). Default: the current folder. */
  destination?: string;
}

/** Uploads a file (path) and resolves with its URL. Call again after any interruption to resume. */
export async function upload(source: string | ByteSource, options: NodeUploadOptions): Promise<UploadResult> {
  const src = typeof source === 'string' ? await fileSource(source) : source;
  const hashCache = options.hashCache === false ? undefined : (options.hashCache ?? new FileHashCache());
  const fetch = withCredentials(options.fetch ?? httpFetch, options);
  return uploadSource(
    src,
    { ...options, fetch },
    { hasher: nodeHasher, hashCache, createSha256: nodeSha256 },
  );
}

/** Downloads a URL to disk and resolves with the path. Call again after any interruption to resume. */
export async function download(url: string, options: NodeDownloadOptions = {}): Promise<string> {
  return downloadTo(
    url,
    async (info) => {
      const dest = options.destination ?? '.';
      const isDir =
        dest.endsWith('/') ||
        (await stat(dest).then(
          (s) => s.isDirectory(),
          () => false,
        ));
      const path = isDir ? join(dest, info.name) : dest;
      // Like aria2's -d and curl's --create-dirs: a folder that does not exist yet is made.
      await mkdir(dirname(path), { recursive: true });
      return new FileTarget(path);
    },
    { ...options, fetch: withCredentials(options.fetch ?? httpFetch, options) },
  );
}

export const client = { upload, download } satisfies ResumableClient<
  string | ByteSource,
  NodeDownloadOptions,
  string
>;
