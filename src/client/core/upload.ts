/**
 * upload(): hash once (or take the hashes from the cache), handshake, send what the server still
 * needs with a few chunks in flight, and finish when an answer carries the file's URL. Calling it
 * again after any interruption resumes: the handshake tells what is already held. The handshake
 * declares the file's SHA-256 beside its MD5 (an MD5 twin is never taken for this file), and a
 * proof challenge (the server has the file, instantUpload 'proof') is answered from the file's
 * bytes: the link comes without an upload (PROTOCOL.md §Instant upload).
 */
import { CHUNK_CHECKSUM } from '../../protocol/chunk-checksum.js';
import { TransferError } from '../../protocol/errors.js';
import type { ProofChallenge } from '../../protocol/types.js';
import { withRetry } from './backoff.js';
import { ChunkFeed, commitDeferredUpload, DEFERRED_UPLOAD, openDeferredUpload } from './deferred-upload.js';
import { chunkCount } from './hashing.js';
import { type BodyProgressInit, callApi } from './http.js';
import { Meter, throttle } from './meter.js';
import type { ByteSource, ChunkChecksums, FileHashes, HashCache, Hasher, Sha256Factory } from './ports.js';
import { defaultFor, fitChunkSize, type ServerLimits, serverLimits } from './server-limits.js';
import { terminate } from './terminate.js';
import type { Progress, RetryOptions, UploadKey, UploadOptions, UploadResult } from './types.js';

const MiB = 1024 * 1024;
/** Handshakes per call: each after a round of chunks that ended without the file's URL. */
const ROUNDS = 6;

/** 4 MiB, grown (in whole MiB) so that a file never needs more than 10,000 chunks. */
export function defaultChunkSize(size: number): number {
  return Math.max(4 * MiB, Math.ceil(size / 10_000 / MiB) * MiB);
}

function extensionOf(name: string): string | undefined {
  const m = /\.([A-Za-z0-9]{1,16})$/.exec(name);
  return m ? `.${m[1]}` : undefined;
}

/**
 * The chunk size an upload of `size` bytes plans with: `chunkSize` (default: defaultChunkSize),
 * lowered to fit the server's limit when the server says it (server-limits.ts).
 */
export async function planChunkSize(
  size: number,
  options: Pick<UploadOptions, 'chunkSize' | 'server' | 'signal'> & RetryOptions & { fetch: typeof fetch },
): Promise<number> {
  const { retries, minDelay, maxDelay, retryDelays, onShouldRetry, onRetry, signal } = options;
  const retry = { retries, minDelay, maxDelay, retryDelays, onShouldRetry, onRetry, signal };
  const base = options.server.replace(/\/+$/, '');
  return chunkSizeFor(size, options.chunkSize, await serverLimits(options.fetch, base, retry));
}

/** The chunk size asked for, else the default for the file's size and the server's preference, fitted to its limit. */
function chunkSizeFor(size: number, asked: number | undefined, limits: ServerLimits): number {
  return fitChunkSize(asked ?? defaultFor(defaultChunkSize(size), limits), limits);
}

/** The hash-cache key of a source's hashes for one chunk size (undefined: not cached). */
export function hashCacheKey(source: ByteSource, chunkSize: number): string | undefined {
  return source.cacheKey === undefined ? undefined : `${source.cacheKey}|${chunkSize}`;
}

/** Cached hashes that fit this source and chunk size, with the SHA-256 the handshake declares. */
export function usableHashes(
  cached: FileHashes | undefined,
  source: ByteSource,
  chunkSize: number,
): FileHashes | undefined {
  return cached?.chunkSize === chunkSize &&
    cached.chunkIds.length === chunkCount(source.size, chunkSize) &&
    // Cached before the SHA-256 was computed: hash again, so the handshake can declare it.
    cached.sha256 !== undefined
    ? cached
    : undefined;
}

/**
 * Cached hashes of a deferred upload whose chunks went with a checksum (PROTOCOL.md §Chunk
 * checksums), interrupted after the file was read: its id and the file's hashes, but no chunk
 * ids (never computed by the client). upload() hashes the file with them and continues it.
 */
export function checksummedPending(
  cached: FileHashes | undefined,
  chunkSize: number,
): FileHashes | undefined {
  return cached?.uploadId && cached.chunkSize === chunkSize && cached.chunkIds.length === 0
    ? cached
    : undefined;
}

export interface UploadDeps {
  hasher: Hasher;
  /**
   * The hasher tells each chunk's id as soon as it is hashed (Hasher's onChunk): a deferred upload
   * then sends while the file is read. Without it the ordinary upload is used.
   */
  hasherTellsChunks?: boolean | undefined;
  /**
   * A deferred upload sends its chunks with these checksums instead of their MD5 ids when the
   * server takes them (PROTOCOL.md §Chunk checksums): the chunk MD5s are never computed here.
   */
  checksums?: ChunkChecksums | undefined;
  hashCache?: HashCache | undefined;
  /** SHA-256 for proof challenges; without it a challenge is left unanswered (the file is uploaded). */
  createSha256?: Sha256Factory | undefined;
  /** The extension (with its dot) for a MIME type, for a source whose name has none. */
  extensionForType?: ((type: string) => string | undefined) | undefined;
}

/** What a challenge may make us read: far above what our server asks (64 KiB), far below a file. */
const MAX_CHALLENGE_RANGES = 64;
const MAX_CHALLENGE_BYTES = 1024 * 1024;

/** The challenge's ranges if each is [start, end] inside a file of `size` and all are a sample. */
function challengeRanges(ranges: unknown, size: number): [number, number][] | undefined {
  if (!Array.isArray(ranges) || ranges.length > MAX_CHALLENGE_RANGES) return undefined;
  const checked: [number, number][] = [];
  let total = 0;
  for (const range of ranges as unknown[]) {
    const [start, end] = Array.isArray(range) ? (range as unknown[]) : [];
    if (!Number.isSafeInteger(start) || !Number.isSafeInteger(end)) return undefined;
    const [s, e] = [start as number, end as number];
    if (s < 0 || e >= size || e < s) return undefined;
    total += e - s + 1;
    checked.push([s, e]);
  }
  return total <= MAX_CHALLENGE_BYTES ? checked : undefined;
}

/**
 * The answer to a proof challenge (core/proof.ts on the server): SHA-256 over the nonce's UTF-8
 * bytes, then the bytes of every range of the file, in order. Undefined for a challenge that is
 * not well-formed, names bytes outside the file, or would read more than a sample of it (a
 * server cannot make our client read a large file again for a proof).
 */
export async function answerChallenge(
  source: ByteSource,
  challenge: ProofChallenge,
  createSha256: Sha256Factory,
): Promise<string | undefined> {
  const ranges = challengeRanges(challenge.ranges, source.size);
  if (challenge.algorithm !== 'sha256' || typeof challenge.nonce !== 'string' || !ranges) return undefined;
  const sha = await createSha256();
  sha.update(new TextEncoder().encode(challenge.nonce));
  for (const [start, end] of ranges) sha.update(await source.slice(start, end + 1));
  return sha.digest();
}

/** A handshake's answer: the URL (instant upload) or the ids still needed, and maybe a challenge. */
interface HandshakeAnswer {
  data: string | string[];
  challenge?: ProofChallenge | undefined;
}

/** A handshake or chunk answer that says the plan is gone or was replaced: handshake again. */
function planLost(err: unknown): boolean {
  return (
    err instanceof TransferError && (err.code === 'UPLOAD_NOT_FOUND' || err.code === 'CHUNK_NOT_IN_PLAN')
  );
}

/** The chunk id a chunk answer made for chunk `index` sent with its checksum: its MD5, then the index. */
function madeId(answer: unknown, index: number): string {
  const id = (answer as { chunkId?: unknown }).chunkId;
  if (typeof id !== 'string' || !/^[0-9a-f]{32}$/.test(id.slice(0, 32)) || id.slice(32) !== String(index)) {
    throw new TransferError('BAD_RESPONSE', `The answer to chunk ${index} named no id for it.`);
  }
  return id;
}

export function uploadSource(
  source: ByteSource,
  options: UploadOptions,
  deps: UploadDeps,
): Promise<UploadResult> {
  return new UploadSession(source, options, deps).run();
}

class UploadSession {
  private readonly fetch: typeof fetch;
  private readonly base: string;
  /** Chosen in run(): the wanted size, fitted to the server's limit. */
  private chunkSize = 0;
  private readonly retry: RetryOptions & { signal?: AbortSignal | undefined };
  private readonly meter = new Meter();
  private readonly tick = throttle(100);
  private bytesSent = 0;
  /** Bytes the server holds, as far as this round knows. */
  private held = 0;
  /** Chunk index → most of its bytes the transport wrote in any attempt (answer still to come). */
  private readonly writing = new Map<number, number>();
  /** The last uploading progress told: it never goes backwards. */
  private shownUploaded = 0;
  /**
   * Set while a deferred upload sends its chunks with a checksum (§Chunk checksums): each chunk
   * goes by its index, and the id the server answers for it is kept here, by index.
   */
  private checksummed: { checksums: ChunkChecksums; ids: string[] } | undefined;

  constructor(
    private readonly source: ByteSource,
    private readonly options: UploadOptions,
    private readonly deps: UploadDeps,
  ) {
    this.fetch = options.fetch ?? globalThis.fetch.bind(globalThis);
    this.base = options.server.replace(/\/+$/, '');
    const { retries, minDelay, maxDelay, retryDelays, onShouldRetry, onRetry, signal } = options;
    this.retry = { retries, minDelay, maxDelay, retryDelays, onShouldRetry, onRetry, signal };
  }

  async run(): Promise<UploadResult> {
    const limits = await serverLimits(this.fetch, this.base, this.retry);
    this.chunkSize = chunkSizeFor(this.source.size, this.options.chunkSize, limits);
    const cached = await this.cachedHashes();
    const offered = this.options.deferred !== false && limits.extensions?.includes(DEFERRED_UPLOAD) === true;
    // A deferred upload whose chunks went with a checksum, interrupted after the file was read: its
    // chunk ids were never computed here, so the file is hashed with them and the upload continued.
    const pending = cached ? undefined : await this.checksummedPending();
    if (pending && offered) {
      const { hashes } = await this.hashNow();
      // Remembered with the upload's id again (hashNow cached the hashes alone): interrupted once
      // more, the next run continues it with these ids (the cached path below).
      await this.remember({ ...hashes, uploadId: pending });
      const url = await this.continueDeferred({ ...hashes, uploadId: pending });
      return url ?? this.ordinary(hashes, false);
    }
    // A deferred upload interrupted after the file was hashed: continue it.
    if (cached?.uploadId && offered) {
      const url = await this.continueDeferred(cached);
      if (url) return url;
    }
    // Hashes known already (秒传 at once), a server without the extension, or not asked for
    // (`deferred: true`, see UploadOptions.deferred): the ordinary upload.
    const wanted = this.options.deferred === true;
    if (!cached && offered && wanted && this.deps.hasherTellsChunks === true) {
      const outcome = await this.deferredUpload(this.checksumsTaken(limits));
      if ('url' in outcome) return outcome;
      // The server refused or lost the deferred upload: the ordinary one, with the hashes it made.
      if (outcome.hashes) return this.ordinary(outcome.hashes, false);
    }
    const { hashes, hashCached } = cached ? { hashes: cached, hashCached: true } : await this.hashNow();
    return this.ordinary(hashes, hashCached);
  }

  /** Handshake and chunks, resumable; an abort deletes the upload under terminateOnAbort. */
  private async ordinary(hashes: FileHashes, hashCached: boolean): Promise<UploadResult> {
    try {
      return await this.rounds(hashes, hashCached);
    } catch (err: unknown) {
      await this.terminateIfAborted({ fileId: hashes.fileId, sha256: hashes.sha256 });
      throw err;
    }
  }

  /** terminateOnAbort: an aborted upload is deleted on the server (tus's abort(true)). */
  private async terminateIfAborted(key: UploadKey): Promise<void> {
    if (!this.options.signal?.aborted || !this.options.terminateOnAbort) return;
    // The upload's retry settings, without its signal: it is the one that aborted.
    const { signal: _aborted, ...retry } = this.retry;
    await terminate(key, { server: this.options.server, fetch: this.fetch, ...retry });
  }

  private async rounds(hashes: FileHashes, hashCached: boolean): Promise<UploadResult> {
    const { fileId } = hashes;
    const size = this.source.size;
    for (let round = 0; round < ROUNDS; round++) {
      // The URL at once (instant upload), or the ids still needed (and maybe a proof challenge).
      const { data: needed, challenge } = await this.handshake(hashes);
      if (typeof needed === 'string') {
        const instant = round === 0 && this.bytesSent === 0;
        this.emit({ phase: 'done', bytesDone: size, bytesTotal: size, instant }, true);
        return { url: needed, fileId, instant, bytesSent: this.bytesSent, hashCached };
      }
      if (challenge && this.bytesSent === 0) {
        const proven = await this.prove(hashes, challenge);
        if (proven) {
          this.emit({ phase: 'done', bytesDone: size, bytesTotal: size, instant: true }, true);
          return { url: proven, fileId, instant: true, bytesSent: this.bytesSent, hashCached };
        }
      }
      const url = await this.sendChunks(hashes, needed);
      if (url) {
        this.emit({ phase: 'done', bytesDone: size, bytesTotal: size, instant: false }, true);
        return { url, fileId, instant: false, bytesSent: this.bytesSent, hashCached };
      }
      // No answer carried the URL (another client finished it, or the plan was replaced): ask again.
    }
    throw new TransferError('BAD_RESPONSE', 'The server never completed the upload.');
  }

  /** The platform's chunk checksums, if the server lists their algorithm (§Chunk checksums). */
  private checksumsTaken(limits: ServerLimits): ChunkChecksums | undefined {
    const { checksums } = this.deps;
    if (this.options.chunkChecksums === false) return undefined;
    const listed =
      limits.extensions?.includes(CHUNK_CHECKSUM) &&
      limits.chunkChecksums?.includes(checksums?.algorithm ?? '');
    return listed ? checksums : undefined;
  }

  /**
   * The id of a deferred upload of this file whose chunks went with a checksum and which was
   * interrupted after the file was read (cached with its hashes but no chunk ids), if any.
   */
  private async checksummedPending(): Promise<string | undefined> {
    const key = hashCacheKey(this.source, this.chunkSize);
    return checksummedPending(key ? await this.deps.hashCache?.get(key) : undefined, this.chunkSize)
      ?.uploadId;
  }

  /** The hashes of an unchanged file, from the cache. */
  private async cachedHashes(): Promise<FileHashes | undefined> {
    const { source, chunkSize, deps } = this;
    const key = hashCacheKey(source, chunkSize);
    return usableHashes(key ? await deps.hashCache?.get(key) : undefined, source, chunkSize);
  }

  /** One pass over the file (remembered in the cache). */
  private async hashNow(): Promise<{ hashes: FileHashes; hashCached: boolean }> {
    const { source, chunkSize, deps } = this;
    const progress = (done: number) =>
      this.emit({ phase: 'hashing', bytesDone: done, bytesTotal: source.size });
    const hashes = await deps.hasher(source, chunkSize, progress, this.options.signal);
    this.emit({ phase: 'hashing', bytesDone: source.size, bytesTotal: source.size }, true);
    await this.remember(hashes);
    return { hashes, hashCached: false };
  }

  private async remember(hashes: FileHashes): Promise<void> {
    const key = hashCacheKey(this.source, this.chunkSize);
    if (key) await this.deps.hashCache?.set(key, hashes);
  }

  /**
   * Continues the deferred upload the cached hashes name: a deferred handshake with its id and
   * the chunk ids lists what the server still needs, those are sent, then the commit. Resolves
   * undefined when the server no longer has it (the ordinary upload then runs), the hashes
   * remembered without the id either way.
   */
  private async continueDeferred(hashes: FileHashes): Promise<UploadResult | undefined> {
    const { uploadId, ...plain } = hashes;
    const { source, chunkSize } = this;
    const call = { fetch: this.fetch, base: this.base, retry: this.retry };
    const layout = { ext: this.ext, size: source.size, chunkSize, name: this.name };
    const opened = await openDeferredUpload(call, { ...layout, uploadId, chunkIds: hashes.chunkIds });
    let url: string | undefined;
    if (opened && uploadId) {
      try {
        // The upload's key is its id alone (no sha256); its chunk answers never carry the link.
        await this.sendChunks({ fileId: uploadId, chunkSize, chunkIds: plain.chunkIds }, opened.needed);
        url = await commitDeferredUpload(call, uploadId, plain);
      } catch (err: unknown) {
        if (!planLost(err)) {
          await this.terminateIfAborted({ fileId: plain.fileId, uploadId });
          throw err;
        }
      }
    }
    await this.remember(plain);
    if (!url) {
      // Kept by a commit that found chunks missing, of no use to the ordinary upload: it goes.
      if (opened) await this.dropQuietly({ fileId: plain.fileId, uploadId });
      return undefined;
    }
    this.emit({ phase: 'done', bytesDone: source.size, bytesTotal: source.size, instant: false }, true);
    return { url, fileId: plain.fileId, instant: false, bytesSent: this.bytesSent, hashCached: true };
  }

  /**
   * A deferred upload (deferred-upload.ts): each chunk goes as soon as the hasher has its id, the
   * commit names the file's hashes once the pass ends. With `checksums` the server took (PROTOCOL.md
   * §Chunk checksums), every chunk goes at once by its index and checksum, the pass computes only
   * the file's MD5 and SHA-256, and the commit names the ids the server answered. Resolves with the
   * result, or with the hashes (if the pass ended with chunk ids) when the ordinary upload must take
   * over: the server refused the deferred handshake, or no longer had the upload at its commit.
   */
  private async deferredUpload(
    wanted: ChunkChecksums | undefined,
  ): Promise<UploadResult | { hashes?: FileHashes }> {
    const { source, chunkSize } = this;
    const call = { fetch: this.fetch, base: this.base, retry: this.retry };
    const layout = { ext: this.ext, size: source.size, chunkSize, name: this.name };
    const opened = await openDeferredUpload(call, { ...layout, checksum: wanted?.algorithm });
    if (!opened) return {};
    const { uploadId } = opened;
    // A server that did not answer the checksum asked for knows it not: chunks go by their MD5 ids.
    const checksums = wanted && opened.checksum === wanted.algorithm ? wanted : undefined;
    // Chunk ids as the hasher tells them, or as the server answers them; the upload's key is the
    // provisional id.
    const ids: string[] = [];
    const upload: FileHashes = { fileId: uploadId, chunkSize, chunkIds: ids };
    const feed = new ChunkFeed();
    // Stops the hashing: a connection that fails for good, or the caller's abort.
    const stop = new AbortController();
    const abort = () => stop.abort();
    this.options.signal?.addEventListener('abort', abort, { once: true });
    if (this.options.signal?.aborted) stop.abort();
    const tell = (index: number, id: string) => {
      ids[index] = id;
      feed.push(index);
    };
    if (checksums) {
      // Every chunk is ready to go: its checksum is computed as it is sent.
      for (let i = 0; i < chunkCount(source.size, chunkSize); i++) feed.push(i);
      feed.end();
      this.checksummed = { checksums, ids };
    }
    const pass = checksums
      ? checksums.fileHasher(source, chunkSize, () => undefined, stop.signal)
      : this.deps.hasher(source, chunkSize, () => undefined, stop.signal, tell);
    const hashing = pass.then(
      async (hashes) => {
        feed.end();
        // Remembered with the upload's id: an interrupted upload continues it (continueDeferred;
        // with checksums, whose chunk ids are not known here, checksummedPending).
        await this.remember({ ...hashes, uploadId });
        return hashes;
      },
      (err: unknown) => {
        feed.fail(err);
        throw err;
      },
    );
    this.held = 0;
    this.writing.clear();
    this.emitUploaded(true);
    // Once the hashes are known: a file the server has already is not sent whole (秒传); the
    // connections stop, and its link is the answer.
    let instant: string | undefined;
    const probe = hashing
      .then(async (hashes) => {
        instant = await this.instantCheck(hashes);
      })
      .catch(() => undefined);
    const sending = this.sendAll(upload, () => feed.next(), {
      stopWhen: () => instant !== undefined,
      // FORBIDDEN: access limited to one fileId does not cover the provisional id (PROTOCOL.md
      // §Deferred upload); the ordinary upload names the fileId.
      lostOn: (err) => planLost(err) || (err instanceof TransferError && err.code === 'FORBIDDEN'),
      // A connection that fails for good stops the hashing too.
      onFailure: () => stop.abort(),
    });
    try {
      const [hashed, , sent] = await Promise.allSettled([hashing, probe, sending]).finally(() => {
        this.options.signal?.removeEventListener('abort', abort);
        this.checksummed = undefined;
      });
      // A connection's failure first: the hashing it stopped failed only because of it.
      if (sent.status === 'rejected') throw sent.reason;
      if (hashed.status === 'rejected') throw hashed.reason;
      const { lost } = sent.value;
      // With checksums, the ids are the server's answers: every chunk's once all were sent.
      const complete = ids.length === chunkCount(source.size, chunkSize) && !ids.includes(undefined as never);
      const hashes = checksums ? { ...hashed.value, chunkIds: complete ? ids : [] } : hashed.value;
      if (instant) {
        // Its chunks are of no use: the provisional upload goes (best effort: it expires anyway).
        await this.dropQuietly({ fileId: uploadId, uploadId });
        await this.remember(hashes);
        this.emit({ phase: 'done', bytesDone: source.size, bytesTotal: source.size, instant: true }, true);
        return {
          url: instant,
          fileId: hashes.fileId,
          instant: true,
          bytesSent: this.bytesSent,
          hashCached: false,
        };
      }
      const url = lost || !complete ? undefined : await commitDeferredUpload(call, uploadId, hashes);
      // Published (the next upload of the file is instant), or the ordinary upload takes over.
      await this.remember(hashes);
      if (!url) {
        // A commit that found chunks missing leaves the upload: of no use to the ordinary one
        // (another key), so it goes. (Lost or refused, there is nothing this client may delete.)
        if (!lost) {
          await this.dropQuietly({ fileId: uploadId, uploadId });
        }
        // Without chunk ids (checksums, not all answered) the ordinary upload hashes them itself.
        return complete ? { hashes } : {};
      }
      this.emit({ phase: 'done', bytesDone: source.size, bytesTotal: source.size, instant: false }, true);
      return { url, fileId: hashes.fileId, instant: false, bytesSent: this.bytesSent, hashCached: false };
    } catch (err: unknown) {
      // The provisional upload is deleted by its id.
      await this.terminateIfAborted({ fileId: uploadId, uploadId });
      throw err;
    }
  }

  /**
   * The ordinary handshake of a deferred upload once its hashes are known, for 秒传: the link
   * (instant upload 'open'), or a proof of holding the file (its challenge, under 'proof'); else
   * undefined, and the session this handshake opened goes (the deferred upload goes on). Asked
   * once, no retry: a failure only means the file is sent.
   */
  private async instantCheck(hashes: FileHashes): Promise<string | undefined> {
    const answer = await this.handshake(hashes, { ...this.retry, retryDelays: [] }).catch(() => undefined);
    if (!answer) return undefined;
    if (typeof answer.data === 'string') return answer.data;
    const proven = answer.challenge
      ? await this.prove(hashes, answer.challenge).catch(() => undefined)
      : undefined;
    if (proven) return proven;
    await this.dropQuietly({ fileId: hashes.fileId, sha256: hashes.sha256 });
    return undefined;
  }

  /** Deletes an upload this client opened and no longer needs: once, best effort (it expires anyway). */
  private async dropQuietly(key: UploadKey): Promise<void> {
    await terminate(key, { server: this.base, fetch: this.fetch, retryDelays: [] }).catch(() => undefined);
  }

  /** The name the server is told: the option, else the source's. */
  private get name(): string {
    return this.options.name ?? this.source.name;
  }

  /** The option, else the name's extension, else the MIME type's, else `.bin`. */
  private get ext(): string {
    const { type } = this.source;
    const fromType = type ? this.deps.extensionForType?.(type) : undefined;
    return this.options.ext ?? extensionOf(this.name) ?? fromType ?? '.bin';
  }

  private async handshake(
    { fileId, chunkIds, sha256 }: FileHashes,
    retry: RetryOptions & { signal?: AbortSignal | undefined } = this.retry,
  ): Promise<HandshakeAnswer> {
    const { source, chunkSize, ext } = this;
    // Without the chunk ids (a deferred upload whose chunks went with a checksum asks for 秒传):
    // the file as one chunk, whose MD5 is the file's, and no layout, which one chunk would break.
    const plan =
      chunkIds.length > 0 ? { chunkIds, size: source.size, chunkSize } : { chunkIds: [`${fileId}0`] };
    const body = JSON.stringify({ fileId, ext, ...plan, name: this.name, sha256 });
    const init = { method: 'POST', headers: { 'content-type': 'application/json' }, body };
    const url = `${this.base}/api/upload/handshake`;
    const hs = await withRetry(
      () => callApi<string | string[]>(this.fetch, url, init, this.options.signal),
      retry,
    );
    return { data: hs.data, challenge: (hs as { challenge?: ProofChallenge }).challenge };
  }

  /**
   * Answers a proof challenge from the file's bytes: the link, or undefined when there is nothing
   * to answer with or the server refused the proof (then the chunks are uploaded instead).
   */
  private async prove(
    { fileId, sha256 }: FileHashes,
    challenge: ProofChallenge,
  ): Promise<string | undefined> {
    const { createSha256 } = this.deps;
    if (!createSha256) return undefined;
    const proof = await answerChallenge(this.source, challenge, createSha256);
    if (!proof) return undefined;
    const { nonce } = challenge;
    const body = JSON.stringify({ fileId, sha256, ext: this.ext, size: this.source.size, nonce, proof });
    const init = { method: 'POST', headers: { 'content-type': 'application/json' }, body };
    const url = `${this.base}/api/upload/proof`;
    try {
      const answer = await withRetry(
        () => callApi<string>(this.fetch, url, init, this.options.signal),
        this.retry,
      );
      return typeof answer.data === 'string' ? answer.data : undefined;
    } catch (err: unknown) {
      // Refused (a wrong proof, an expired challenge, a server without the route): upload instead.
      // Credentials that are missing or refused are not that: the upload would be refused too.
      if (
        err instanceof TransferError &&
        err.code !== 'UNAUTHORIZED' &&
        err.status >= 400 &&
        err.status < 500
      )
        return undefined;
      throw err;
    }
  }

  /**
   * Sends the chunks the handshake asked for, `concurrency` at a time, each retried with backoff
   * on its own. Resolves with the file's URL when an answer carried it, else undefined (the plan
   * was lost: handshake again).
   */
  private async sendChunks(hashes: FileHashes, needed: unknown): Promise<string | undefined> {
    // `needed` is the server's answer, checked here before any index is trusted.
    const indexOf = new Map(hashes.chunkIds.map((id, i) => [id, i]));
    if (!Array.isArray(needed) || needed.some((id) => !indexOf.has(id))) {
      throw new TransferError('BAD_RESPONSE', 'The handshake asked for chunks this file does not have.');
    }
    const { queue, bytesOf } = this.distinctChunks(hashes.chunkIds, needed, indexOf);
    let missing = 0;
    for (const bytes of bytesOf.values()) missing += bytes;
    this.held = this.source.size - missing;
    this.writing.clear();
    this.emitUploaded(true);
    const holds = (i: number) => bytesOf.get(hashes.chunkIds[i]!.slice(0, 32));
    return (await this.sendAll(hashes, async () => queue.shift(), { holds })).url;
  }

  /**
   * Sends the chunks `next` gives on `concurrency` connections, each retried on its own, until none
   * is left, an answer carries the file's URL, `stopWhen()` holds, or a failure `lostOn` tells (the
   * plan is gone or was replaced: `lost`, and the connections stop). Any other failure, `next`'s
   * too, calls `onFailure` at once and rejects once every connection has settled.
   */
  private async sendAll(
    hashes: FileHashes,
    next: () => Promise<number | undefined>,
    {
      holds,
      stopWhen = () => false,
      lostOn = planLost,
      onFailure,
    }: {
      /** The bytes the server holds once chunk `index` arrives (sendChunk's `holds`). */
      holds?: (index: number) => number | undefined;
      stopWhen?: () => boolean;
      lostOn?: (err: unknown) => boolean;
      onFailure?: () => void;
    } = {},
  ): Promise<{ url: string | undefined; lost: boolean }> {
    let url: string | undefined;
    let lost = false;
    const connection = async () => {
      try {
        for (let i = await next(); i !== undefined && !url && !lost && !stopWhen(); i = await next()) {
          try {
            const done = await this.sendChunk(hashes, i, holds?.(i));
            if (done) url = done;
          } catch (err: unknown) {
            if (!lostOn(err)) throw err;
            lost = true;
          }
        }
      } catch (err: unknown) {
        onFailure?.();
        throw err;
      }
    };
    const connections = Array.from({ length: Math.max(1, this.options.concurrency ?? 4) }, connection);
    const failed = (await Promise.allSettled(connections)).find((r) => r.status === 'rejected');
    if (failed) throw (failed as PromiseRejectedResult).reason;
    return { url, lost };
  }

  /**
   * The chunks to send for a needed list: one place per distinct bytes, in the order asked. The
   * server holds chunks by their MD5 (an id's first 32 hex digits, PROTOCOL.md §Handshake): places
   * that repeat a chunk's bytes, or an id named twice, are one chunk for it, held for every place
   * once one arrives. `bytesOf`: each needed MD5's bytes in the file, all its places together.
   */
  private distinctChunks(
    chunkIds: readonly string[],
    needed: readonly string[],
    indexOf: ReadonlyMap<string, number>,
  ): { queue: number[]; bytesOf: Map<string, number> } {
    // Each needed MD5 → the first place asked for.
    const first = new Map<string, number>();
    for (const id of needed) if (!first.has(id.slice(0, 32))) first.set(id.slice(0, 32), indexOf.get(id)!);
    const bytesOf = new Map<string, number>();
    chunkIds.forEach((id, i) => {
      const md5 = id.slice(0, 32);
      if (first.has(md5)) bytesOf.set(md5, (bytesOf.get(md5) ?? 0) + this.lengthOf(i));
    });
    return { queue: [...first.values()], bytesOf };
  }

  /**
   * Sends chunk `index`; resolves with the file's URL if this answer completed the file. `holds`:
   * the bytes the server holds once it has this chunk (its places with the same bytes included).
   */
  private async sendChunk(
    { fileId, chunkIds, sha256 }: FileHashes,
    index: number,
    holds = this.lengthOf(index),
  ): Promise<string | undefined> {
    const start = index * this.chunkSize;
    const length = this.lengthOf(index);
    const body = this.source.sliceBody
      ? this.source.sliceBody(start, start + length)
      : await this.source.slice(start, start + length);
    // With its SHA-256 declared the upload has its own key (PROTOCOL.md §Collisions).
    const key = sha256 ? `fileId=${fileId}&sha256=${sha256}` : `fileId=${fileId}`;
    // With checksums the chunk goes by its index and checksum, and the server answers its id.
    const checksummed = this.checksummed;
    const named = checksummed
      ? `chunkIndex=${index}&checksum=${await checksummed.checksums.checksum(this.source, start, start + length)}`
      : `chunkId=${chunkIds[index]}`;
    const url = `${this.base}/api/upload?${key}&${named}`;
    const init: BodyProgressInit = {
      method: 'POST',
      // The queue comes from the handshake; only the url of the last answer is read.
      // So ask for the O(1) answer (PROTOCOL.md §Bounds) instead of the needed list.
      headers: { 'content-type': 'application/octet-stream', prefer: 'return=minimal' },
      body: body as Uint8Array<ArrayBuffer> | Blob,
      // Byte-level progress where the transport counts the body (Node's); a retry that writes
      // the chunk again counts nothing twice: a chunk's share is the most any attempt wrote.
      onBodyProgress: (written) => {
        if (written <= (this.writing.get(index) ?? 0)) return;
        this.writing.set(index, written);
        this.emitUploaded();
      },
    };
    const answer = await withRetry(
      () =>
        callApi<string[] | null>(this.fetch, url, init, this.options.signal).catch(async (err: unknown) => {
          // A raw body cannot be malformed: the server saw it cut short on the way. Retry.
          if (err instanceof TransferError && err.code === 'MALFORMED_BODY') {
            throw new TransferError('NETWORK', 'the chunk arrived incomplete', { cause: err });
          }
          // A slice body that could not be read (in the browser, a file changed after it was
          // picked; in Node, a file changed since the upload began) fails as a network error:
          // reading a byte of it tells LOCAL_IO apart, which no retry mends.
          if (err instanceof TransferError && err.code === 'NETWORK' && this.source.sliceBody) {
            await this.source.slice(start, start + Math.min(1, length));
          }
          throw err;
        }),
      this.retry,
    );
    if (checksummed) checksummed.ids[index] = madeId(answer, index);
    this.bytesSent += length;
    this.held += holds;
    this.writing.delete(index);
    this.emitUploaded();
    return answer.url;
  }

  private lengthOf(index: number): number {
    return Math.min(this.source.size, (index + 1) * this.chunkSize) - index * this.chunkSize;
  }

  /** Uploading progress: held bytes plus those of chunks on their way, never backwards. */
  private emitUploaded(force = false): void {
    let onTheWay = 0;
    for (const written of this.writing.values()) onTheWay += written;
    this.shownUploaded = Math.max(this.shownUploaded, Math.min(this.source.size, this.held + onTheWay));
    this.emit({ phase: 'uploading', bytesDone: this.shownUploaded, bytesTotal: this.source.size }, force);
  }

  private emit(p: Omit<Progress, 'speed' | 'eta'>, force = false): void {
    const speed = this.meter.sample(p.bytesDone);
    if (this.options.onProgress && this.tick(force)) {
      this.options.onProgress({ ...p, speed, eta: Meter.eta(p.bytesDone, p.bytesTotal, speed) });
    }
  }
}
