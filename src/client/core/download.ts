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
import { bytesDone } from './download-state.js';
import type { DownloadState, DownloadTarget } from './ports.js';
import { probe } from './probe.js';
import type { DownloadInfo, DownloadOptions } from './types.js';

const MiB = 1024 * 1024;
/** Times the file may change on the server during one call before it gives up. */
const ATTEMPTS = 4;
/** Defaults of DownloadOptions.timeout and stallTimeout (ms). */
export const DEFAULT_TIMEOUT = 10_000;
export const DEFAULT_STALL_TIMEOUT = 30_000;

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
  const { signal, retries, minDelay, maxDelay, retryDelays, onShouldRetry, onRetry, maxRedirects } = options;
  const retry = { retries, minDelay, maxDelay, retryDelays, onShouldRetry, onRetry, signal };
  const timeout = options.timeout ?? DEFAULT_TIMEOUT;
  const stallTimeout = options.stallTimeout ?? DEFAULT_STALL_TIMEOUT;
  const connections = Math.max(1, options.connections ?? 4);
  let restarted = false;
  for (let attempt = 0; attempt < ATTEMPTS; attempt++) {
    const probed = await withRetry(() => probe(fetchImpl, url, signal, { timeout, maxRedirects }), retry);
    const { fetch: _transport, ...info } = probed;
    const ranged = info.acceptRanges && info.etag !== null;
    const target = await makeTarget(info);
    try {
      const done = await target.existing?.(info);
      if (done !== undefined) {
        options.onProgress?.({
          phase: 'done',
          bytesDone: info.size,
          bytesTotal: info.size,
          speed: 0,
          eta: 0,
          alreadyComplete: true,
        });
        return done;
      }
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
      // What the record resumed from may be only in the page cache (a killed process's frequent
      // record, or one written without sync): flushed first, so the durable record written now
      // never claims bytes that are not on disk.
      if (resume) await target.flush();
      await target.saveState(state);
      const settings = {
        ...options,
        // Every request follows the redirects afresh from the URL asked for, never the probe's
        // final URL: that one may be signed for the probe's method only (a presigned HEAD is 403
        // to a GET) and may expire mid-download (--s3-redirect's URLs live minutes). The
        // validators (If-Match, Content-Range) still prove each answer is of the version probed.
        fetch: fetchImpl,
        url,
        timeout,
        stallTimeout,
        ranged,
        connections,
        restarted,
      };
      const had = bytesDone(state);
      const started = Date.now();
      await new DownloadSession(state, target, settings).run();
      const result = await target.complete(info.size, info);
      const seconds = (Date.now() - started) / 1000;
      options.onProgress?.({
        phase: 'done',
        bytesDone: info.size,
        bytesTotal: info.size,
        // The average of this call: what was fetched over how long it took.
        speed: seconds > 0 ? (info.size - had) / seconds : 0,
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
