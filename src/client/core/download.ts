/**
 * download(): learn size and validator (HEAD, or a first ranged GET), then fetch ranges in
 * parallel, written in place at their offsets, with progress persisted so a killed process
 * continues from what is on disk. Every ranged answer is validated (If-Match with the strong
 * ETag; the 206's Content-Range start, end and total), and a file that changed on the server
 * restarts the download cleanly: bytes of two versions are never joined (the undici rule).
 * Without ranges or a strong ETag it falls back to one stream that restarts instead of resuming.
 */
import { parseContentDispositionName, safeFileName } from '../../protocol/content-disposition.js';
import { TransferError } from '../../protocol/errors.js';
import { parseContentRange } from '../../protocol/range.js';
import { abortError, withRetry } from './backoff.js';
import { bytesDone } from './download-state.js';
import { redactUserinfo, send } from './http.js';
import { Meter, throttle } from './meter.js';
import type { DownloadState, DownloadTarget } from './ports.js';
import type { DownloadInfo, DownloadOptions, Progress } from './types.js';

const MiB = 1024 * 1024;
const WRITE_BATCH = MiB;

function statusError(res: Response, url: string): TransferError {
  const code =
    res.status === 401
      ? 'UNAUTHORIZED'
      : res.status === 403
        ? 'FORBIDDEN'
        : res.status >= 500 || res.status === 408 || res.status === 429
          ? 'INTERNAL'
          : 'BAD_RESPONSE';
  const reason = res.statusText ? ` ${res.statusText}` : '';
  return new TransferError(code, `The server answered ${res.status}${reason} for ${redactUserinfo(url)}`, {
    status: res.status,
  });
}

function strongEtag(value: string | null): string | null {
  return value && !value.startsWith('W/') ? value : null;
}

function nameFrom(res: Response, url: string): string {
  const fromHeader = parseContentDispositionName(res.headers.get('content-disposition'));
  let fromUrl: string | undefined;
  try {
    fromUrl = decodeURIComponent(new URL(url).pathname.split('/').pop() ?? '');
  } catch {
    fromUrl = undefined;
  }
  return safeFileName(fromHeader ?? fromUrl, 'download');
}

/** HEAD; if the server has no HEAD or no length there, a GET of the first byte. */
export async function probe(
  fetchImpl: typeof fetch,
  url: string,
  signal?: AbortSignal,
): Promise<DownloadInfo> {
  const head = await send(fetchImpl, url, { method: 'HEAD' }, signal);
  const length = head.headers.get('content-length');
  if (head.ok && head.status === 200 && length !== null) {
    return {
      size: Number(length),
      etag: strongEtag(head.headers.get('etag')),
      lastModified: head.headers.get('last-modified'),
      acceptRanges: (head.headers.get('accept-ranges') ?? '').toLowerCase().includes('bytes'),
      name: nameFrom(head, url),
    };
  }
  if (head.status !== 405 && head.status !== 501 && !head.ok) throw statusError(head, url);
  const res = await send(fetchImpl, url, { headers: { range: 'bytes=0-0' } }, signal);
  await res.body?.cancel().catch(() => undefined);
  const cr = parseContentRange(res.headers.get('content-range'));
  const size = res.status === 206 ? cr?.size : Number(res.headers.get('content-length') ?? Number.NaN);
  if (!res.ok || size === undefined || !Number.isSafeInteger(size)) {
    throw res.ok ? new TransferError('BAD_RESPONSE', `${url} has no known length`) : statusError(res, url);
  }
  return {
    size,
    etag: strongEtag(res.headers.get('etag')),
    lastModified: res.headers.get('last-modified'),
    acceptRanges: res.status === 206,
    name: nameFrom(res, url),
  };
}

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

class Restart extends Error {}

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
  for (let attempt = 0; attempt < 4; attempt++) {
    const info = await withRetry(() => probe(fetchImpl, url, signal), retry);
    const ranged = info.acceptRanges && info.etag !== null;
    const target = await makeTarget(info);
    try {
      let state = await target.loadState();
      const same =
        state?.url === url &&
        state.size === info.size &&
        state.etag === info.etag &&
        state.etag !== null &&
        ranged;
      if (state && !same) {
        // What is on disk belongs to another version (or cannot be trusted): start over.
        if (state.etag !== info.etag || state.size !== info.size) restarted = true;
        state = undefined;
      }
      const fresh = state === undefined;
      const live: DownloadState = state ?? {
        url,
        size: info.size,
        etag: info.etag,
        lastModified: info.lastModified,
        segments: planSegments(info.size, connections, ranged),
      };
      await target.open(info.size, fresh);
      await target.saveState(live);
      await runSegments(fetchImpl, url, live, target, { ...options, connections }, ranged, restarted, retry);
      const result = await target.complete(info.size);
      const done: Progress = {
        phase: 'done',
        bytesDone: info.size,
        bytesTotal: info.size,
        speed: 0,
        eta: 0,
        restarted,
      };
      options.onProgress?.(done);
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

async function runSegments<R>(
  fetchImpl: typeof fetch,
  url: string,
  state: DownloadState,
  target: DownloadTarget<R>,
  options: DownloadOptions & { connections: number },
  ranged: boolean,
  restarted: boolean,
  retry: Parameters<typeof withRetry>[1],
): Promise<void> {
  const meter = new Meter();
  const tick = throttle(100);
  // Progress is made durable (datasync, then the control file) every few seconds: after kill -9 at
  // most that much is fetched again, and the control file never claims bytes not yet on disk. A
  // datasync every second forced writeback mid-transfer and cost a third of the throughput.
  const saveTick = throttle(options.checkpointInterval ?? 5000);
  const inner = new AbortController();
  const onAbort = () => inner.abort();
  options.signal?.addEventListener('abort', onAbort, { once: true });
  let saving: Promise<void> = Promise.resolve();
  const checkpoint = (force = false) => {
    if (!saveTick(force)) return saving;
    // Claim only bytes already written, and only once they are durable.
    const snapshot: DownloadState = { ...state, segments: state.segments.map((s) => ({ ...s })) };
    saving = saving.then(async () => {
      await target.flush();
      await target.saveState(snapshot);
    });
    return saving;
  };
  const report = () => {
    const bytes = bytesDone(state);
    const speed = meter.sample(bytes);
    if (options.onProgress && tick()) {
      options.onProgress({
        phase: 'downloading',
        bytesDone: bytes,
        bytesTotal: state.size,
        speed,
        eta: Meter.eta(bytes, state.size, speed),
        restarted,
      });
    }
  };

  const fetchSegment = async (seg: DownloadState['segments'][number]) => {
    if (!ranged) seg.next = seg.start; // no validator: a broken stream restarts from zero
    const headers: Record<string, string> = {};
    if (ranged) {
      headers.range = `bytes=${seg.next}-${seg.end}`;
      headers['if-match'] = state.etag!;
    }
    const res = await send(fetchImpl, url, { headers }, inner.signal);
    if (res.status === 412 || res.status === 416) {
      await res.body?.cancel().catch(() => undefined);
      throw new Restart(`HTTP ${res.status}: the file changed on the server`);
    }
    if (ranged && res.status === 206) {
      const cr = parseContentRange(res.headers.get('content-range'));
      const etag = strongEtag(res.headers.get('etag'));
      if (!cr || cr.size !== state.size || (etag !== null && etag !== state.etag)) {
        await res.body?.cancel().catch(() => undefined);
        throw new Restart('the server answered with another version of the file');
      }
      if (cr.start !== seg.next || cr.end > seg.end) {
        await res.body?.cancel().catch(() => undefined);
        throw new TransferError(
          'BAD_RESPONSE',
          `asked bytes ${seg.next}-${seg.end}, got ${cr.start}-${cr.end}`,
        );
      }
    } else if (res.status === 200) {
      if (ranged) {
        // The server ignored our Range: never join its bytes onto ours. Start over unranged.
        await res.body?.cancel().catch(() => undefined);
        throw new Restart('the server ignored Range');
      }
    } else {
      await res.body?.cancel().catch(() => undefined);
      throw statusError(res, url);
    }
    if (!res.body) throw new TransferError('NETWORK', 'empty response body');
    const reader = res.body.getReader();
    // Network reads arrive in ~64 KiB pieces; writing them 1 MiB at a time costs 16× fewer calls.
    let batch: Uint8Array[] = [];
    let batched = 0;
    let lastWrite = Date.now();
    const writeBatch = async () => {
      if (batched === 0) return;
      const parts = batch;
      const length = batched;
      batch = [];
      batched = 0;
      await target.write(seg.next, parts);
      seg.next += length;
      report();
      void checkpoint();
    };
    try {
      for (;;) {
        const { done: end, value } = await reader.read();
        if (end) break;
        const room = seg.end + 1 - (seg.next + batched);
        const data = value.length > room ? value.subarray(0, room) : value;
        batch.push(data);
        batched += data.length;
        // On a slow link, a batch is also written after 250 ms, so progress and checkpoints move.
        if (batched >= WRITE_BATCH || seg.next + batched > seg.end || Date.now() - lastWrite > 250) {
          lastWrite = Date.now();
          await writeBatch();
        }
        if (seg.next > seg.end) break;
      }
      await writeBatch();
    } catch (err: unknown) {
      if (inner.signal.aborted) throw options.signal?.aborted ? abortError() : err;
      throw new TransferError('NETWORK', `connection lost at byte ${seg.next}`, { cause: err });
    } finally {
      reader.cancel().catch(() => undefined);
    }
    if (seg.next <= seg.end)
      throw new TransferError('NETWORK', `the response ended early at byte ${seg.next}`);
  };

  const pending = state.segments.filter((s) => s.next <= s.end);
  let failure: unknown;
  const worker = async () => {
    for (let seg = failure ? undefined : pending.shift(); seg; seg = failure ? undefined : pending.shift()) {
      const current = seg;
      await withRetry(() => fetchSegment(current), { ...retry, signal: inner.signal });
    }
  };
  try {
    // The first failure stops every connection; all of them settle before the file is closed.
    await Promise.all(
      Array.from({ length: ranged ? options.connections : 1 }, () =>
        worker().catch((err: unknown) => {
          failure ??= options.signal?.aborted ? abortError() : err;
          inner.abort();
        }),
      ),
    );
    if (failure instanceof Restart) {
      await saving.catch(() => undefined);
      throw failure;
    }
    await checkpoint(true);
    if (failure) throw failure;
  } finally {
    options.signal?.removeEventListener('abort', onAbort);
  }
}
