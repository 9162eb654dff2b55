/**
 * upload(): hash once (or take the hashes from the cache), handshake, send what the server still
 * needs with a few chunks in flight, and finish when an answer carries the file's URL. Calling it
 * again after any interruption resumes: the handshake tells what is already held. The handshake
 * declares the file's SHA-256 beside its MD5 (an MD5 twin is never taken for this file), and a
 * proof challenge (the server has the file, instantUpload 'proof') is answered from the file's
 * bytes: the link comes without an upload (PROTOCOL.md §Instant upload).
 */
import { TransferError } from '../../protocol/errors.js';
import type { ProofChallenge } from '../../protocol/types.js';
import { withRetry } from './backoff.js';
import { chunkCount } from './hashing.js';
import { callApi } from './http.js';
import { Meter, throttle } from './meter.js';
import type { ByteSource, FileHashes, HashCache, Hasher, Sha256Factory } from './ports.js';
import type { Progress, UploadOptions, UploadResult } from './types.js';

const MiB = 1024 * 1024;

/** 4 MiB, grown (in whole MiB) so that a file never needs more than 10,000 chunks. */
export function defaultChunkSize(size: number): number {
  return Math.max(4 * MiB, Math.ceil(size / 10_000 / MiB) * MiB);
}

export function extensionOf(name: string): string {
  const m = /\.([A-Za-z0-9]{1,16})$/.exec(name);
  return m ? `.${m[1]}` : '.bin';
}

export interface UploadDeps {
  hasher: Hasher;
  hashCache?: HashCache | undefined;
  /** SHA-256 for proof challenges; without it a challenge is left unanswered (the file is uploaded). */
  createSha256?: Sha256Factory | undefined;
}

/**
 * The answer to a proof challenge (core/proof.ts on the server): SHA-256 over the nonce's UTF-8
 * bytes, then the bytes of every range of the file, in order.
 */
export async function answerChallenge(
  source: ByteSource,
  challenge: ProofChallenge,
  createSha256: Sha256Factory,
): Promise<string | undefined> {
  if (challenge.algorithm !== 'sha256' || !Array.isArray(challenge.ranges)) return undefined;
  const sha = await createSha256();
  sha.update(new TextEncoder().encode(challenge.nonce));
  for (const range of challenge.ranges) {
    const [start, end] = range;
    if (
      !Number.isSafeInteger(start) ||
      !Number.isSafeInteger(end) ||
      start < 0 ||
      end >= source.size ||
      end < start
    )
      return undefined;
    sha.update(await source.slice(start, end + 1));
  }
  return sha.digest();
}

/** A handshake or chunk answer that says the plan is gone or was replaced: handshake again. */
function planLost(err: unknown): boolean {
  return (
    err instanceof TransferError && (err.code === 'UPLOAD_NOT_FOUND' || err.code === 'CHUNK_NOT_IN_PLAN')
  );
}

export async function uploadSource(
  source: ByteSource,
  options: UploadOptions,
  deps: UploadDeps,
): Promise<UploadResult> {
  const fetchImpl = options.fetch ?? globalThis.fetch.bind(globalThis);
  const signal = options.signal;
  const base = options.server.replace(/\/+$/, '');
  const chunkSize = options.chunkSize ?? defaultChunkSize(source.size);
  const ext = options.ext ?? extensionOf(source.name);
  const meter = new Meter();
  const tick = throttle(100);
  const emit = (p: Omit<Progress, 'speed' | 'eta'>, force = false) => {
    const speed = meter.sample(p.bytesDone);
    if (options.onProgress && tick(force)) {
      options.onProgress({ ...p, speed, eta: Meter.eta(p.bytesDone, p.bytesTotal, speed) });
    }
  };

  // 1. Hashes: from the cache when the file is unchanged, else one pass over the file.
  const key = source.cacheKey === undefined ? undefined : `${source.cacheKey}|${chunkSize}`;
  let hashes: FileHashes | undefined = key ? await deps.hashCache?.get(key) : undefined;
  if (
    hashes &&
    (hashes.chunkSize !== chunkSize ||
      hashes.chunkIds.length !== chunkCount(source.size, chunkSize) ||
      // Cached before the SHA-256 was computed: hash again, so the handshake can declare it.
      hashes.sha256 === undefined)
  ) {
    hashes = undefined;
  }
  const hashCached = hashes !== undefined;
  if (!hashes) {
    hashes = await deps.hasher(
      source,
      chunkSize,
      (done) => emit({ phase: 'hashing', bytesDone: done, bytesTotal: source.size }),
      signal,
    );
    emit({ phase: 'hashing', bytesDone: source.size, bytesTotal: source.size }, true);
    if (key) await deps.hashCache?.set(key, hashes);
  }
  const { fileId, chunkIds, sha256 } = hashes;
  // With its SHA-256 declared the upload has its own key (PROTOCOL.md §Collisions).
  const shaParam = sha256 ? `&sha256=${sha256}` : '';
  const indexOf = new Map(chunkIds.map((id, i) => [id, i]));
  const lengthOf = (i: number) => Math.min(source.size, (i + 1) * chunkSize) - i * chunkSize;
  const retry = { retries: options.retries, minDelay: options.minDelay, maxDelay: options.maxDelay, signal };

  /** The link for a proof of holding the file, or undefined when the server refused it (then upload). */
  const prove = async (
    challenge: ProofChallenge,
    createSha256: Sha256Factory,
  ): Promise<string | undefined> => {
    const proof = await answerChallenge(source, challenge, createSha256);
    if (!proof) return undefined;
    try {
      const answer = await withRetry(
        () =>
          callApi<string>(
            fetchImpl,
            `${base}/api/upload/proof`,
            {
              method: 'POST',
              headers: { 'content-type': 'application/json' },
              body: JSON.stringify({ fileId, sha256, ext, nonce: challenge.nonce, proof }),
            },
            signal,
          ),
        retry,
      );
      return typeof answer.data === 'string' ? answer.data : undefined;
    } catch (err: unknown) {
      // Refused (a wrong proof, an expired challenge, a server without the route): upload instead.
      if (err instanceof TransferError && err.status >= 400 && err.status < 500) return undefined;
      throw err;
    }
  };

  let bytesSent = 0;
  for (let round = 0; round < 6; round++) {
    // 2. Handshake: the URL at once (instant upload), or the ids still needed.
    const hs = await withRetry(
      () =>
        callApi<string | string[]>(
          fetchImpl,
          `${base}/api/upload/handshake`,
          {
            method: 'POST',
            headers: { 'content-type': 'application/json' },
            body: JSON.stringify({
              fileId,
              ext,
              chunkIds,
              size: source.size,
              chunkSize,
              name: source.name,
              sha256,
            }),
          },
          signal,
        ),
      retry,
    );
    if (typeof hs.data === 'string') {
      const instant = round === 0 && bytesSent === 0;
      emit({ phase: 'done', bytesDone: source.size, bytesTotal: source.size, instant }, true);
      return { url: hs.data, fileId, instant, bytesSent, hashCached };
    }
    if (!Array.isArray(hs.data) || hs.data.some((id) => !indexOf.has(id))) {
      throw new TransferError('BAD_RESPONSE', 'The handshake asked for chunks this file does not have.');
    }
    const challenge = (hs as { challenge?: ProofChallenge }).challenge;
    if (challenge && deps.createSha256 && bytesSent === 0) {
      const url = await prove(challenge, deps.createSha256);
      if (url) {
        emit({ phase: 'done', bytesDone: source.size, bytesTotal: source.size, instant: true }, true);
        return { url, fileId, instant: true, bytesSent, hashCached };
      }
    }
    const queue = hs.data.map((id) => indexOf.get(id)!);
    let held = source.size - queue.reduce((sum, i) => sum + lengthOf(i), 0);
    emit({ phase: 'uploading', bytesDone: held, bytesTotal: source.size }, true);

    // 3. Chunks, `concurrency` at a time, each retried with backoff on its own.
    let url: string | undefined;
    let lost = false;
    const worker = async () => {
      for (let i = queue.shift(); i !== undefined && !url && !lost; i = queue.shift()) {
        const index = i;
        const bytes = await source.slice(index * chunkSize, index * chunkSize + lengthOf(index));
        try {
          const answer = await withRetry(
            () =>
              callApi<string[] | null>(
                fetchImpl,
                `${base}/api/upload?fileId=${fileId}&chunkId=${chunkIds[index]}${shaParam}`,
                {
                  method: 'POST',
                  // The queue comes from the handshake; only the url of the last answer is read.
                  // So ask for the O(1) answer (PROTOCOL.md §Bounds) instead of the needed list.
                  headers: { 'content-type': 'application/octet-stream', prefer: 'return=minimal' },
                  body: bytes as Uint8Array<ArrayBuffer>,
                },
                signal,
              ).catch((err: unknown) => {
                // A raw body cannot be malformed: the server saw it cut short on the way. Retry.
                if (err instanceof TransferError && err.code === 'MALFORMED_BODY') {
                  throw new TransferError('NETWORK', 'the chunk arrived incomplete', { cause: err });
                }
                throw err;
              }),
            retry,
          );
          bytesSent += bytes.length;
          held += bytes.length;
          if (answer.url) url = answer.url;
          emit({ phase: 'uploading', bytesDone: held, bytesTotal: source.size });
        } catch (err: unknown) {
          if (!planLost(err)) throw err;
          lost = true;
        }
      }
    };
    const workers = Array.from({ length: Math.max(1, options.concurrency ?? 4) }, worker);
    const results = await Promise.allSettled(workers);
    const failed = results.find((r) => r.status === 'rejected');
    if (failed) throw (failed as PromiseRejectedResult).reason;
    if (url) {
      emit({ phase: 'done', bytesDone: source.size, bytesTotal: source.size, instant: false }, true);
      return { url, fileId, instant: false, bytesSent, hashCached };
    }
    // No answer carried the URL (another client finished it, or the plan was replaced): ask again.
  }
  throw new TransferError('BAD_RESPONSE', 'The server never completed the upload.');
}
