/**
 * download(): learn size and validator (probe.ts), then fetch ranges in parallel, written in place
 * at their offsets, with progress persisted so a killed process continues from what is on disk
 * (download-session.ts). A file that changed on the server restarts the download cleanly: bytes
 * of two versions are never joined (the undici rule). Without ranges or a strong ETag it falls
 * back to one stream that restarts instead of resuming.
 */
import { TransferError } from '../../protocol/errors.js';
import { withRetry } from './backoff.js';
import { DownloadSession, Restart } from './download-session.js';
import type { DownloadState, DownloadTarget } from './ports.js';
import { probe } from './probe.js';
import type { DownloadInfo, DownloadOptions } from './types.js';

const MiB = 1024 * 1024;
/** Times the file may change on the server during one call before it gives up. */
const ATTEMPTS = 4;

function planSegments(size: number, connections: number, ranged: boolean): DownloadState['segments'] {
  if (size === 0) return [];
  if (!ranged) return [{ start: 0, end: size - 1, next: 0 }];
  // A few segments per connection, so a fast connection takes over the work of a slow one.
  const segment = Math.max(MiB, Math.ceil(size / (connections * 4) / MiB) * MiB);
  const out: DownloadState['segments'] = [];
  for (let start = 0; start < size; start += segment) {
    out.push({ start, end: Math.min(size, start + segment) - 1, next: start });
  }
  return out;
}

/** Whether saved progress is of this very version of the file, fetched with validated ranges. */
function resumable(
  saved: DownloadState | undefined,
  url: string,
  info: DownloadInfo,
  ranged: boolean,
): boolean {
  return (
    saved?.url === url &&
    saved.size === info.size &&
    saved.etag === info.etag &&
    saved.etag !== null &&
    ranged
  );
}

export async function downloadTo<R>(
  url: string,
  makeTarget: (info: DownloadInfo) => Promise<DownloadTarget<R>>,
  options: DownloadOptions,
): Promise<R> {
  const fetchImpl = options.fetch ?? globalThis.fetch.bind(globalThis);
  const { signal } = options;
  const retry = { retries: options.retries, minDelay: options.minDelay, maxDelay: options.maxDelay, signal };
  const connections = Math.max(1, options.connections ?? 4);
  let restarted = false;
  for (let attempt = 0; attempt < ATTEMPTS; attempt++) {
    const info = await withRetry(() => probe(fetchImpl, url, signal), retry);
    const ranged = info.acceptRanges && info.etag !== null;
    const target = await makeTarget(info);
    try {
      const saved = await target.loadState();
      const resume = resumable(saved, url, info, ranged);
      // What is on disk belongs to another version (or cannot be trusted): start over.
      if (saved && !resume && (saved.etag !== info.etag || saved.size !== info.size)) restarted = true;
      const state: DownloadState =
        saved && resume
          ? saved
          : {
              url,
              size: info.size,
              etag: info.etag,
              lastModified: info.lastModified,
              segments: planSegments(info.size, connections, ranged),
            };
      await target.open(info.size, !resume);
      await target.saveState(state);
      const settings = { ...options, fetch: fetchImpl, url, ranged, connections, restarted };
      await new DownloadSession(state, target, settings).run();
      const result = await target.complete(info.size);
      options.onProgress?.({
        phase: 'done',
        bytesDone: info.size,
        bytesTotal: info.size,
        speed: 0,
        eta: 0,
        restarted,
      });
      return result;
    } catch (err: unknown) {
      if (!(err instanceof Restart)) throw err;
      restarted = true;
    } finally {
      await target.close();
    }
  }
  throw new TransferError('REMOTE_CHANGED', 'The file kept changing on the server; try again later.');
}
