/**
 * One attempt at fetching the missing segments of a download into its target: parallel ranged
 * connections, each answer validated (If-Match with the strong ETag; the 206's Content-Range start,
 * end and total), bytes written in place in batches, progress reported and checkpointed. A sign
 * that the file changed on the server throws Restart: downloadTo then starts over cleanly.
 */
import { TransferError } from '../../protocol/errors.js';
import { parseContentRange } from '../../protocol/range.js';
import { abortError, withRetry } from './backoff.js';
import { bytesDone } from './download-state.js';
import { sendFollowing } from './http.js';
import { Meter, throttle } from './meter.js';
import type { DownloadState, DownloadTarget } from './ports.js';
import { statusError, strongEtag } from './probe.js';
import type { Progress, RetryOptions } from './types.js';

const MiB = 1024 * 1024;
const WRITE_BATCH = MiB;
/** On a slow link, a batch is also written after this many ms, so progress and checkpoints move. */
const WRITE_AFTER_MS = 250;
/** How often progress is recorded without fsync (target.recordProgress): what a kill -9 loses. */
const RECORD_INTERVAL = 1000;

type Segment = DownloadState['segments'][number];

/** The file changed on the server (or its server stopped honouring ranges): start over. */
export class Restart extends Error {}

export interface SessionSettings extends RetryOptions {
  fetch: typeof fetch;
  /** The URL asked for: each request follows its redirects again (download.ts says why). */
  url: string;
  /** Ms for an answer to begin (send's timeout). */
  timeout: number;
  /** Ms a body may send nothing before the attempt is given up (and retried where it stopped). */
  stallTimeout: number;
  maxRedirects?: number | undefined;
  /** Ranged and validated by a strong ETag; otherwise one stream that restarts instead of resuming. */
  ranged: boolean;
  connections: number;
  /** Reported with progress: an earlier attempt found the file changed. */
  restarted: boolean;
  signal?: AbortSignal | undefined;
  onProgress?: ((p: Progress) => void) | undefined;
  checkpointInterval?: number | undefined;
}

/** Network reads (~64 KiB) gathered for one write: 1 MiB at a time costs 16× fewer calls. */
class Batch {
  parts: Uint8Array[] = [];
  bytes = 0;
  private lastWrite = Date.now();

  add(data: Uint8Array): void {
    this.parts.push(data);
    this.bytes += data.length;
  }

  /** Whether to write now: a full batch, the end of the segment, or a slow link. */
  due(segmentEndReached: boolean): boolean {
    if (this.bytes < WRITE_BATCH && !segmentEndReached && Date.now() - this.lastWrite <= WRITE_AFTER_MS)
      return false;
    this.lastWrite = Date.now();
    return true;
  }

  take(): Uint8Array[] {
    const parts = this.parts;
    this.parts = [];
    this.bytes = 0;
    return parts;
  }
}

export class DownloadSession<R> {
  private readonly meter = new Meter();
  private readonly progressTick = throttle(100);
  // Two records of progress. Every second it is recorded without fsync (recordProgress): a killed
  // process loses at most that much, since the page cache outlives the process. Every few seconds
  // it is made durable (datasync, then the control file), which is what a machine crash leaves:
  // the durable record never claims bytes not yet on disk. A datasync every second forced
  // writeback mid-transfer and cost a third of the throughput; an unsynced record costs nothing.
  private readonly checkpointTick: (force?: boolean) => boolean;
  private readonly recordTick = throttle(RECORD_INTERVAL);
  /** Stops every connection: on the caller's abort, or on the first failure. */
  private readonly inner = new AbortController();
  private saving: Promise<void> = Promise.resolve();
  /** The frequent records, one after another; never rejects. */
  private recording: Promise<void> = Promise.resolve();
  private failure: unknown;

  constructor(
    private readonly state: DownloadState,
    private readonly target: DownloadTarget<R>,
    private readonly settings: SessionSettings,
  ) {
    this.checkpointTick = throttle(settings.checkpointInterval ?? 5000);
  }

  /** Fetches every unfinished segment; resolves once all of it is written and checkpointed. */
  async run(): Promise<void> {
    const { signal } = this.settings;
    const onAbort = () => this.inner.abort();
    signal?.addEventListener('abort', onAbort, { once: true });
    try {
      const pending = this.state.segments.filter((s) => s.next <= s.end);
      const lanes = this.settings.ranged ? this.settings.connections : 1;
      // The first failure stops every connection; all of them settle before the file is closed.
      await Promise.all(
        Array.from({ length: lanes }, () => this.connection(pending).catch((err: unknown) => this.fail(err))),
      );
      if (this.failure instanceof Restart) {
        await this.saving.catch(() => undefined);
        throw this.failure;
      }
      await this.checkpoint(true);
      if (this.failure) throw this.failure;
    } finally {
      signal?.removeEventListener('abort', onAbort);
      // No record may land after the target completes (and removes its records) or starts over.
      await this.recording;
    }
  }

  private fail(err: unknown): void {
    this.failure ??= this.settings.signal?.aborted ? abortError() : err;
    this.inner.abort();
  }

  /** One connection: takes segments off the shared list until none is left or one has failed. */
  private async connection(pending: Segment[]): Promise<void> {
    const { retries, minDelay, maxDelay, retryDelays, onShouldRetry, onRetry } = this.settings;
    const retry = {
      retries,
      minDelay,
      maxDelay,
      retryDelays,
      onShouldRetry,
      onRetry,
      signal: this.inner.signal,
    };
    for (let seg = this.nextSegment(pending); seg; seg = this.nextSegment(pending)) {
      const current = seg;
      await withRetry(() => this.fetchSegment(current), retry);
    }
  }

  private nextSegment(pending: Segment[]): Segment | undefined {
    return this.failure ? undefined : pending.shift();
  }

  private async fetchSegment(seg: Segment): Promise<void> {
    if (!this.settings.ranged) seg.next = seg.start; // no validator: a broken stream restarts from zero
    await this.receive(seg, await this.request(seg));
    if (seg.next <= seg.end)
      throw new TransferError('NETWORK', `the response ended early at byte ${seg.next}`);
  }

  /** Asks for the rest of the segment; resolves with a body that holds exactly its next bytes. */
  private async request(seg: Segment): Promise<ReadableStream<Uint8Array>> {
    const headers: Record<string, string> = {};
    if (this.settings.ranged) {
      headers.range = `bytes=${seg.next}-${seg.end}`;
      headers['if-match'] = this.state.etag!;
    }
    const { fetch, url, timeout, maxRedirects } = this.settings;
    const { res } = await sendFollowing(fetch, url, { headers }, this.inner.signal, {
      timeout,
      maxRedirects,
    });
    const refused = this.refusal(res, seg);
    if (refused) {
      await res.body?.cancel().catch(() => undefined);
      throw refused;
    }
    if (!res.body) throw new TransferError('NETWORK', 'empty response body');
    return res.body;
  }

  /** Why an answer's bytes cannot be written at seg.next, or undefined when they can. */
  private refusal(res: Response, seg: Segment): Error | undefined {
    if (res.status === 412 || res.status === 416)
      return new Restart(`HTTP ${res.status}: the file changed on the server`);
    const { ranged } = this.settings;
    if (ranged && res.status === 206) {
      const cr = parseContentRange(res.headers.get('content-range'));
      const etag = strongEtag(res.headers.get('etag'));
      if (!cr || cr.size !== this.state.size || (etag !== null && etag !== this.state.etag))
        return new Restart('the server answered with another version of the file');
      if (cr.start !== seg.next || cr.end > seg.end)
        return new TransferError(
          'BAD_RESPONSE',
          `asked bytes ${seg.next}-${seg.end}, got ${cr.start}-${cr.end}`,
        );
      return undefined;
    }
    // A 200 to a ranged request: the server ignored our Range. Never join its bytes onto ours;
    // start over unranged.
    if (res.status === 200) return ranged ? new Restart('the server ignored Range') : undefined;
    return statusError(res, this.settings.url);
  }

  /**
   * One read, or a NETWORK error once the body has sent nothing for stallTimeout ms (only the
   * wait for the network counts, not our own writes).
   */
  private async read(
    reader: ReadableStreamDefaultReader<Uint8Array>,
    seg: Segment,
  ): Promise<ReadableStreamReadResult<Uint8Array>> {
    const { stallTimeout } = this.settings;
    let timer: ReturnType<typeof setTimeout> | undefined;
    const stalled = new Promise<never>((_resolve, reject) => {
      timer = setTimeout(
        () =>
          reject(
            new TransferError(
              'NETWORK',
              `No data for ${stallTimeout / 1000} s at byte ${seg.next} (stalled; resuming there)`,
            ),
          ),
        stallTimeout,
      );
    });
    try {
      return await Promise.race([reader.read(), stalled]);
    } finally {
      clearTimeout(timer);
    }
  }

  /** Streams the body into the target at seg.next, up to the segment's end. */
  private async receive(seg: Segment, body: ReadableStream<Uint8Array>): Promise<void> {
    const reader = body.getReader();
    const batch = new Batch();
    try {
      for (;;) {
        const { done, value } = await this.read(reader, seg);
        if (done) break;
        const room = seg.end + 1 - (seg.next + batch.bytes);
        batch.add(value.length > room ? value.subarray(0, room) : value);
        if (batch.due(seg.next + batch.bytes > seg.end)) await this.write(seg, batch);
        if (seg.next > seg.end) break;
      }
      await this.write(seg, batch);
    } catch (err: unknown) {
      if (this.inner.signal.aborted) throw this.settings.signal?.aborted ? abortError() : err;
      // The bytes that came before a stall or a cut are this range's, in order (the 206 was
      // checked): keep them, so the retry asks only for the rest.
      if (batch.bytes > 0 && !(err instanceof TransferError && err.code === 'LOCAL_IO'))
        await this.write(seg, batch).catch(() => undefined);
      // A stall (or a failed write) is said as such; the retry asks again from seg.next.
      if (err instanceof TransferError) throw err;
      throw new TransferError('NETWORK', `connection lost at byte ${seg.next}`, { cause: err });
    } finally {
      reader.cancel().catch(() => undefined);
    }
  }

  private async write(seg: Segment, batch: Batch): Promise<void> {
    if (batch.bytes === 0) return;
    const length = batch.bytes;
    await this.target.write(seg.next, batch.take());
    seg.next += length;
    this.report();
    this.record();
    // Not waited for here; a checkpoint that fails (disk full, folder gone) fails the download at
    // once. Unhandled until the last checkpoint awaited it, its rejection stopped a Node process
    // that uses the library (an unhandled rejection is fatal by default).
    this.checkpoint().catch((err: unknown) => this.fail(err));
  }

  /** The written bytes as they are now, for a record to claim. */
  private snapshot(): DownloadState {
    return { ...this.state, segments: this.state.segments.map((s) => ({ ...s })) };
  }

  /** Records the written bytes without fsync (at most every RECORD_INTERVAL), if the target can. */
  private record(): void {
    const { target } = this;
    if (!target.recordProgress || !this.recordTick()) return;
    const snapshot = this.snapshot();
    // A record that fails is not the download's failure: the durable checkpoint, which must
    // succeed, still runs; a kill then costs the time since the last record that was written.
    this.recording = this.recording.then(() => target.recordProgress?.(snapshot)).catch(() => undefined);
  }

  /** Makes written bytes durable, then saves the state that claims them (at most every interval). */
  private checkpoint(force = false): Promise<void> {
    if (!this.checkpointTick(force)) return this.saving;
    // Claim only bytes already written, and only once they are durable.
    const snapshot = this.snapshot();
    this.saving = this.saving.then(async () => {
      await this.target.flush();
      await this.target.saveState(snapshot);
    });
    return this.saving;
  }

  private report(): void {
    const bytes = bytesDone(this.state);
    const speed = this.meter.sample(bytes);
    if (this.settings.onProgress && this.progressTick()) {
      this.settings.onProgress({
        phase: 'downloading',
        bytesDone: bytes,
        bytesTotal: this.state.size,
        speed,
        eta: Meter.eta(bytes, this.state.size, speed),
        restarted: this.settings.restarted,
      });
    }
  }
}
