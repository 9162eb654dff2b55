/** The server's own /api routes: the library list, health, readiness and version. */
import { constants, readFileSync } from 'node:fs';
import { access } from 'node:fs/promises';
import type { ServerResponse } from 'node:http';
import { resolve } from 'node:path';
import { sendJson } from '../../http/respond.js';
import { CHUNK_CHECKSUM, CHUNK_CHECKSUM_ALGORITHMS } from '../../protocol/chunk-checksum.js';
import { ok } from '../../protocol/envelope.js';
import { TransferError } from '../../protocol/errors.js';
import type { Storage } from '../../storage/storage.js';
import type { ServerConfig } from '../config.js';
import type { Library } from '../library.js';

export async function filesRoute(library: Library, baseUrl: string, res: ServerResponse): Promise<void> {
  sendJson(res, 200, ok(await library.list(baseUrl)));
}

/** With --workers, says which process answered (the connection decides: see workers.ts). */
export function healthRoute(role: ServerConfig['role'], res: ServerResponse): void {
  const worker = role === 'single' ? {} : { worker: role, pid: process.pid };
  sendJson(res, 200, ok({ status: 'ok', ...worker }));
}

let version: string | undefined;
/** The package's version (package.json, two folders above this module in src/ and in dist/). */
function packageVersion(): string {
  version ??= (
    JSON.parse(readFileSync(new URL('../../../package.json', import.meta.url), 'utf8')) as { version: string }
  ).version;
  return version;
}

/** The upload limits a client plans its chunks by (PROTOCOL.md §Server limits). */
export interface AdvertisedLimits {
  maxChunkSize: number;
  maxChunks: number;
  /** The chunk size the storage takes best (S3: a multipart part), when it has one. */
  preferredChunkSize?: number;
}

/**
 * The protocol extensions a client may use only when the server says so (PROTOCOL.md §Server
 * limits): 'deferred-upload', the handshake without a fileId and its commit (§Deferred upload);
 * 'chunk-checksum', a deferred upload's chunks sent with a checksum of CHUNK_CHECKSUM_ALGORITHMS
 * (listed as `chunkChecksums`) instead of their MD5 ids (§Chunk checksums).
 */
export const EXTENSIONS: readonly string[] = ['deferred-upload', CHUNK_CHECKSUM];

export function versionRoute(res: ServerResponse, limits: AdvertisedLimits): void {
  sendJson(
    res,
    200,
    ok({
      name: 'resumable-transfer',
      version: packageVersion(),
      node: process.version,
      limits,
      extensions: EXTENSIONS,
      chunkChecksums: CHUNK_CHECKSUM_ALGORITHMS,
    }),
  );
}

/** A file id no upload has (the probe asks the store about it: a miss is the expected answer). */
const PROBE_ID = '0'.repeat(32);

/**
 * Ready to serve: the data folder is writable and the store answers a cheap call (a stat of a
 * file that does not exist: a HEAD in a bucket) within timeoutMs. 503 STORAGE_UNAVAILABLE if not.
 */
export async function readyRoute(
  config: ServerConfig,
  storage: Storage,
  res: ServerResponse,
  timeoutMs: number,
): Promise<void> {
  let timer: NodeJS.Timeout | undefined;
  const late = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error('the store did not answer in time')), timeoutMs);
  });
  try {
    const probe = async () => {
      if (config.storage.kind === 'local') await access(resolve(config.storage.dataDir), constants.W_OK);
      await storage.statFile(PROBE_ID);
    };
    await Promise.race([probe(), late]);
  } catch {
    throw new TransferError('STORAGE_UNAVAILABLE');
  } finally {
    clearTimeout(timer);
  }
  sendJson(res, 200, ok({ status: 'ready' }));
}
