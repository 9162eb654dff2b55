/**
 * Seed-protocol chunks streamed straight into the parts of one multipart upload per upload, and
 * the whole file's MD5 and SHA-256 folded while they arrive in order, so that assembly is one
 * CompleteMultipartUpload: no chunk object, no copy, no read-back of what arrived in order.
 *
 * Which uploads (partLayout): the plan declared the SHA-256 (it goes into the object's metadata,
 * fixed when the multipart upload is created, so it must be known before the first byte), the
 * size and a chunkSize of at least 5 MiB (S3's smallest part), the file is over 8 MiB (smaller
 * ones take one PutObject) and no two chunks have the same MD5 (a chunk sent once is one part);
 * and the upload's key names the file's MD5, since the multipart upload's object (where the file
 * is published: publication.ts) is chosen from it when the first chunk arrives, so never a
 * deferred upload (core/deferred.ts: its key is a provisional id, the MD5 comes with the commit).
 * Anything else, e.g. the course client's 1 MiB chunks, takes the chunk objects of chunks.ts.
 *
 * One object per upload, uploads/<key>/parts.json (PartState), created with If-None-Match: * by
 * the first chunk to arrive (two processes racing: the loser aborts its multipart upload and uses
 * the winner's), replaced only with If-Match (a write that lost re-reads and
 * merges its change): the multipart upload's id and target, the layout, the fold (chunks
 * 0..next-1 are parts: UploadPart succeeded before `next` moved past them, and they are folded
 * into the saved MD5 and SHA-256 states), and which of them the upload holds (`held`: committed by the
 * chunk receipt, which may still refuse one; a refused one stays a part, bounded by the plan),
 * and whether the upload may hold chunk objects besides (`objects`, PartState: while it says
 * none, the receipt after a part's commit does not list them).
 *
 * A chunk i (part i + 1):
 * - next = i: streamed into UploadPart as it arrives, hashed on the way (its MD5, and the fold),
 *   with Content-MD5 from its id so the store itself refuses other bytes (a part is only ever
 *   overwritten by the same bytes: whichever UploadPart of a part number wins, it is right);
 *   then `next` moves to i + 1 at once, so the next chunk's turn does not wait for this one's
 *   receipt; its commit adds i to `held`.
 * - next > i: folded already, so it is a part already: the body is only hashed and verified,
 *   and its commit adds i to `held` if it is not there (a duplicate answers "held already").
 * - next < i: its turn has not come (the client sends several chunks at once). A chunk of at
 *   most 8 MiB, while this process keeps no other so, is sent ahead: streamed into its part
 *   at once (several parts of an upload go to the store in parallel), its bytes kept in memory
 *   until `next` reaches i, then folded from there, and only then answered. Otherwise it waits,
 *   its body unread, until `next` reaches i. Both wait woken at once within this process, polled
 *   (every 50 ms) across processes. When `next` stops moving for waitMs, or the chunk at `next` is
 *   a chunk object already (nobody will send it again), the chunk is staged as a chunk object
 *   instead (from memory when it was sent ahead: its part is overwritten at assembly with the
 *   same bytes). A process killed meanwhile held nothing: the client sends the chunk again.
 * Assembly reads back only the chunk objects from `next` on (the bytes that did not arrive in
 * order), folds them, copies them into their parts (UploadPartCopy, inside the store), checks
 * every part's size and ETag (ListParts), then completes.
 *
 * The name and extension in the metadata are those of the plan whose chunk opened the multipart
 * upload (an object's metadata cannot change without copying it); the key is where the file
 * would be published then (publication.ts). Should a twin be published under that key meanwhile
 * (an MD5 collision, sent at the same time), assembly drops the upload and answers UPLOAD_BUSY:
 * the client's next handshake sends it again, then under its twin key.
 */
import { createHash } from 'node:crypto';
import type { Readable } from 'node:stream';
import { Transform } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import {
  AbortMultipartUploadCommand,
  CompleteMultipartUploadCommand,
  CreateMultipartUploadCommand,
  GetObjectCommand,
  ListObjectsV2Command,
  ListPartsCommand,
  type Part,
  type S3Client,
  S3ServiceException,
  UploadPartCommand,
  UploadPartCopyCommand,
} from '@aws-sdk/client-s3';
import pLimit from 'p-limit';
import { KeyedMutex } from '../../io/keyed-mutex.js';
import { chunkCount, chunkLength } from '../../protocol/chunk-layout.js';
import { TransferError } from '../../protocol/errors.js';
import { isMd5Hex, md5OfKey } from '../../protocol/ids.js';
import { expectedMd5, publicationOf } from '../publication.js';
import type { AssembleOptions, ChunkTarget, PublishedFile, StagedChunk } from '../storage.js';
import { checkDigests, type Digests } from './assembly.js';
import type { Bucket } from './bucket.js';
import { mapS3Error, notFound } from './errors.js';
import { MAX_COPY_PART, MAX_PARTS, MIN_PART, STREAM_PART } from './limits.js';
import { PartFold } from './part-fold.js';

/** uploads/<key>/parts.json */
export interface PartState {
  uploadId: string;
  /** The store key the multipart upload completes to (files/<target>). */
  target: string;
  size: number;
  chunkSize: number;
  /** The chunks' MD5s in file order: chunk i is part i + 1. */
  md5s: string[];
  sha256: string;
  /** Chunks 0..next-1 are parts, folded into the states below. */
  next: number;
  /**
   * The saved MD5 and SHA-256 (io/md5-state.ts, io/sha256-state.ts) of chunks 0..next-1 (base64);
   * null: nothing yet.
   */
  md5State: string | null;
  sha256State: string | null;
  /** The chunks (indexes, all below next) the upload holds as parts. */
  held: number[];
  /**
   * Whether the upload may hold chunk objects too (uploads/<key>/chunks/): false once a part's
   * commit listed none after this parts.json was created, true (for good) once a chunk object's
   * commit, after its copy, found it otherwise. Absent: not known yet (or written by a process
   * from before): they may. A receipt after a part's commit lists the chunk objects only if true.
   */
  objects?: boolean;
}

interface ReadState {
  state: PartState;
  etag: string | undefined;
}

/** A chunk that went into a part (or was a part already): what its commit must write. */
export interface PartStaged extends StagedChunk {
  readonly kind: 'part';
  readonly fileId: string;
  readonly index: number;
  readonly uploadId: string;
}

export function isPartStaged(staged: StagedChunk): staged is PartStaged {
  return (staged as Partial<PartStaged>).kind === 'part';
}

/** How long a chunk waits for its turn while the fold does not move, by default. */
export const PART_WAIT_MS = 10_000;
/**
 * Bytes of chunks sent ahead of their turn that one process keeps in memory until the fold
 * reaches them (so also the largest such chunk); past it, a chunk waits for its turn unread.
 * One chunk of the backend's preferred 8 MiB: our CLI through the test Ceph (256 MiB, 8 MiB
 * chunks, 4 at once, 3 runs each), by how many chunks were kept ahead:
 *   three (64 MiB) 5.95 s, peak RSS 192–199 MB;  two 5.60–5.65 s, 180–195 MB;
 *   one 5.75–6.06 s, 147–165 MB;  none 5.58–6.13 s, 145–151 MB.
 * On that one-node store (on the same two cores) sending ahead gained no time; against a store
 * far away, a part in flight beside the one in turn hides a round trip, so one is kept.
 */
const AHEAD_BUDGET = 8 * 1024 * 1024;
const POLL_MS = 50;
/** Uploads whose parts.json this process keeps its last view of (each ≤ 10,000 MD5s). */
const KNOWN_MAX = 32;

/** The chunks' MD5s when the target's plan can be sent as parts (see the top), else undefined. */
export function partLayout(target: ChunkTarget): string[] | undefined {
  const plan = target.plan;
  if (!plan?.sha256 || plan.deferred || plan.size === null || plan.chunkSize === null) return undefined;
  if (plan.size !== target.size || plan.chunkSize !== target.chunkSize) return undefined;
  if (plan.chunkSize < MIN_PART || plan.chunkSize > MAX_COPY_PART || plan.size <= STREAM_PART)
    return undefined;
  const md5s = plan.chunkIds.map((id) => id.slice(0, 32));
  // size > STREAM_PART here, so chunkCount's floor of one chunk (an empty file's) never applies.
  if (md5s.length !== chunkCount(plan.size, plan.chunkSize) || md5s.length > MAX_PARTS) return undefined;
  if (new Set(md5s).size !== md5s.length) return undefined;
  return md5s;
}

/** A chunk of an upload, as PartUploads.folding names it. */
function slotOf(fileId: string, index: number): string {
  return `${fileId} ${index}`;
}

/** MD5 → size of the chunks a parts.json holds as parts. */
export function heldParts(state: PartState | null | undefined): Map<string, number> {
  const held = new Map<string, number>();
  if (state) {
    const sizes = sizesOf(state);
    for (const i of state.held) held.set(state.md5s[i]!, sizes[i]!);
  }
  return held;
}

function sizesOf(s: Pick<PartState, 'size' | 'chunkSize' | 'md5s'>): number[] {
  return s.md5s.map((_, i) => chunkLength(s.size, s.chunkSize, i));
}

function noSuchUpload(err: unknown): boolean {
  return (
    err instanceof S3ServiceException && (err.name === 'NoSuchUpload' || err.$metadata.httpStatusCode === 404)
  );
}

export class PartUploads {
  private readonly waiters = new Map<string, Set<(woken: boolean) => void>>();
  /** Bytes of chunks ahead of their turn held in memory now (AHEAD_BUDGET). */
  private aheadBytes = 0;
  /**
   * The newest parts.json this process read or wrote, by upload (at most KNOWN_MAX, oldest out):
   * a write starts from it instead of reading the object again, and a chunk woken by a local
   * commit looks at it first. Where another process wrote since, the conditional write is
   * refused and the object read again; a decision that would skip a write is made again on a
   * fresh read. A chunk took ~17 requests to the store before, 8 of them reads of parts.json.
   */
  private readonly known = new Map<string, ReadState>();
  /**
   * This process writes an upload's parts.json one write at a time, each from the newest view:
   * two writes at once from one view (a chunk's fold and another's commit) made one of them lose
   * its If-Match and read again (~0.9 refused PUTs a chunk, and RGW answered some of those 500,
   * which the SDK retries after a pause).
   */
  private readonly writes = new KeyedMutex();
  /** Multipart uploads being opened by this process, by upload: one CreateMultipartUpload each. */
  private readonly opening = new Map<string, Promise<ReadState | undefined>>();
  /**
   * The chunks (`<fileId> <index>`) this process folds itself once the fold reaches them: streamed
   * in their turn, or sent ahead and kept in memory. Each wakes this process's waiting chunks when
   * it moves the fold or ends, so a chunk waiting for one of them asks the store nothing meanwhile:
   * no poll of parts.json, no HEAD of its chunk object.
   */
  private readonly folding = new Set<string>();
  /**
   * The state a chunk's commit wrote (or read fresh, finding it held; null: there was no
   * parts.json): what the receipt after it takes instead of reading it again (committedState).
   * Any later commit of a part, by any process, replaces that state conditionally, so it includes
   * this one: of two last parts committed at once the later writer sees both, and a chunk
   * object's commit reads it after its copy. That is all the receipt's answer after a commit
   * needs: one of two last chunks committed at once sees both.
   */
  private readonly afterCommit = new WeakMap<StagedChunk, { fileId: string; state: PartState | null }>();

  constructor(
    private readonly bucket: Bucket,
    /** A quiet client for streamed parts (client.ts); the SDK never retries a streamed body. */
    private readonly streamClient: S3Client,
    private readonly stat: (key: string) => Promise<PublishedFile | undefined>,
    /** Stages bytes held in memory as a chunk object (chunks.ts), for a chunk that lost its turn. */
    private readonly asChunkObject: (bytes: Buffer[], md5: string) => Promise<StagedChunk>,
    private readonly waitMs = PART_WAIT_MS,
  ) {}

  private key(fileId: string): string {
    return this.bucket.keys.parts(fileId);
  }

  async read(fileId: string): Promise<ReadState | undefined> {
    const r = await this.bucket.getJson<PartState>(this.key(fileId));
    if (!r) {
      this.known.delete(fileId);
      return undefined;
    }
    const read = { state: r.value, etag: r.etag };
    this.remember(fileId, read);
    return read;
  }

  private remember(fileId: string, read: ReadState): void {
    this.known.delete(fileId);
    this.known.set(fileId, read);
    if (this.known.size > KNOWN_MAX) this.known.delete(this.known.keys().next().value as string);
  }

  /**
   * Streams the chunk into its part when the target's plan is sent as parts and its turn comes;
   * undefined (the body untouched) when it is to be staged as a chunk object instead.
   */
  async stage(body: Readable, maxBytes: number, target: ChunkTarget): Promise<StagedChunk | undefined> {
    const md5s = partLayout(target);
    if (!md5s || target.length > maxBytes) return undefined;
    // The HTTP client leaving (the body fails, or closes before its end) ends the wait and the upload.
    const abandoned = new AbortController();
    const abandon = (err: Error) => abandoned.abort(err);
    const onClose = () => {
      if (!body.readableEnded) abandon(new Error('the chunk body was cut off'));
    };
    body.on('error', abandon);
    body.once('close', onClose);
    // A chunk whose turn has not come, small enough, while the budget allows, is sent ahead of
    // its turn (see send); only such a chunk counts against the budget.
    let reserved = 0;
    const goAhead = () => {
      if (this.aheadBytes + target.length > AHEAD_BUDGET) return false;
      this.aheadBytes += target.length;
      reserved = target.length;
      return true;
    };
    let mine: string | undefined;
    try {
      const turn = await this.turn(target, md5s, abandoned.signal, goAhead);
      if (!turn) return undefined;
      if (turn.state.next <= target.index) {
        mine = slotOf(target.fileId, target.index);
        this.folding.add(mine);
      }
      return await this.send(body, target, md5s, turn, abandoned);
    } catch (err: unknown) {
      // Whatever failed, the next chunk starts from a fresh read (the view may be what failed).
      this.known.delete(target.fileId);
      throw err;
    } finally {
      this.aheadBytes -= reserved;
      body.off('error', abandon);
      body.off('close', onClose);
      if (mine) {
        // Whatever became of it, the chunks waiting for it look again.
        this.folding.delete(mine);
        this.wake(target.fileId);
      }
    }
  }

  /**
   * Waits until the fold reaches the chunk, or until `goAhead` (asked while it has not) says it
   * may be sent ahead, unless the fold is blocked; undefined when it is to be a chunk object instead.
   */
  private async turn(
    target: ChunkTarget,
    md5s: string[],
    signal: AbortSignal,
    goAhead: () => boolean = () => false,
  ): Promise<ReadState | undefined> {
    const { fileId, index } = target;
    const wait = this.waitFor(fileId);
    // The first look, and one after a local wake, at this process's view; one after a nap that
    // nothing woke (another process may move the fold) at the object.
    let woken = true;
    for (;;) {
      if (signal.aborted) throw mapS3Error(signal.reason);
      const viewed = woken ? this.known.get(fileId) : undefined;
      const read = viewed ?? (await this.read(fileId)) ?? (await this.opened(target, md5s));
      if (!read) return undefined;
      const s = read.state;
      const same =
        s.size === target.size && s.chunkSize === target.chunkSize && s.md5s.join() === md5s.join();
      if (!same) {
        // Decided on the object itself, never on this process's view of it.
        if (!viewed) return undefined;
        woken = false;
        continue;
      }
      if (s.next >= index) return read;
      if (await wait.stuck(s)) return undefined;
      if (goAhead()) return read;
      woken = await wait.nap(s);
    }
  }

  /** open(), once at a time per upload in this process: the chunks sent at once share it. */
  private opened(target: ChunkTarget, md5s: string[]): Promise<ReadState | undefined> {
    const running = this.opening.get(target.fileId);
    if (running) return running;
    const opening = this.open(target, md5s).finally(() => this.opening.delete(target.fileId));
    this.opening.set(target.fileId, opening);
    return opening;
  }

  /** Creates the upload's multipart upload and parts.json (or finds the one another request created). */
  private async open(target: ChunkTarget, md5s: string[]): Promise<ReadState | undefined> {
    const plan = target.plan!;
    const sha256 = plan.sha256!;
    const where = await publicationOf(md5OfKey(target.fileId), sha256, true, this.stat);
    // Published already: assembly only verifies the bytes, which a chunk object serves.
    if (where.kind === 'existing') return undefined;
    const { client, name: Bucket } = this.bucket;
    const Key = this.bucket.keys.file(where.key);
    let uploadId: string;
    try {
      const created = await client.send(
        new CreateMultipartUploadCommand({
          Bucket,
          Key,
          Metadata: { name: encodeURIComponent(plan.name ?? ''), ext: plan.ext, sha256 },
        }),
      );
      uploadId = created.UploadId!;
    } catch (err: unknown) {
      throw mapS3Error(err);
    }
    const state: PartState = {
      uploadId,
      target: where.key,
      size: target.size,
      chunkSize: target.chunkSize,
      md5s,
      sha256,
      next: 0,
      md5State: null,
      sha256State: null,
      held: [],
    };
    try {
      const etag = await this.bucket.putJson(this.key(target.fileId), state, { IfNoneMatch: '*' });
      if (etag) this.remember(target.fileId, { state, etag });
      return { state, etag };
    } catch (err: unknown) {
      await this.abortUpload(Key, uploadId);
      if (err instanceof TransferError && err.code === 'UPLOAD_BUSY') return this.read(target.fileId);
      throw err;
    }
  }

  /** The chunk's bytes into part index + 1 (or only hashed, when folded already), verified. */
  private async send(
    body: Readable,
    target: ChunkTarget,
    md5s: string[],
    { state, etag }: ReadState,
    abandoned: AbortController,
  ): Promise<StagedChunk> {
    const { index, length } = target;
    const expected = md5s[index]!;
    const fresh = state.next === index;
    // Ahead of its turn: its part is sent now and its bytes kept until the fold reaches them.
    const kept: Buffer[] | undefined = state.next < index ? [] : undefined;
    const fold = fresh ? await PartFold.of(state) : undefined;
    // A part goes with its Content-MD5, which the store checks (BadDigest) before it keeps one
    // byte: hashing it here too cost the loop 0.85 s per 256 MiB (CLI upload, Ceph, 2 cores).
    // Only a chunk that is not sent (folded already) is hashed here.
    const asPart = state.next <= index;
    const hash = asPart ? undefined : createHash('md5');
    let size = 0;
    const chunkSize = target.chunkSize;
    const measured = new Transform({
      transform(buf: Buffer, _enc, done) {
        size += buf.length;
        if (size > length) {
          done(new TransferError(size > chunkSize ? 'CHUNK_TOO_LARGE' : 'CHUNK_MD5_MISMATCH'));
          return;
        }
        hash?.update(buf);
        fold?.update(buf);
        kept?.push(buf);
        done(null, buf);
      },
      flush(done) {
        done(size === length ? null : new TransferError('CHUNK_MD5_MISMATCH'));
      },
    });
    abandoned.signal.addEventListener('abort', () => measured.destroy(abandoned.signal.reason as Error), {
      once: true,
    });
    if (body.destroyed && !body.readableEnded)
      throw new TransferError('INTERNAL', 'the chunk body was cut off');
    const Key = this.bucket.keys.file(state.target);
    try {
      if (asPart) {
        body.pipe(measured);
        const out = await this.streamClient.send(
          new UploadPartCommand({
            Bucket: this.bucket.name,
            Key,
            UploadId: state.uploadId,
            PartNumber: index + 1,
            Body: measured,
            ContentLength: length,
            // The store refuses (BadDigest) bytes that are not the chunk's: a part never holds others.
            ContentMD5: Buffer.from(expected, 'hex').toString('base64'),
          }),
          // No deadline for the whole body, which comes at the client's pace: a silent client is
          // bounded by the server's own limit, a silent store by the socket's idle timeout.
          { abortSignal: abandoned.signal, requestTimeout: 0 },
        );
        const stored = (out.ETag ?? '').replaceAll('"', '');
        if (isMd5Hex(stored) && stored !== expected)
          throw new TransferError('INTERNAL', 'the store holds other bytes than sent');
      } else {
        await pipeline(body, measured, async (bytes: AsyncIterable<Buffer>) => {
          for await (const _ of bytes);
        });
      }
    } catch (err: unknown) {
      body.unpipe(measured);
      if (err instanceof S3ServiceException && err.name === 'BadDigest')
        throw new TransferError('CHUNK_MD5_MISMATCH');
      const cause = measured.errored ?? err;
      throw mapS3Error(cause instanceof TransferError ? cause : err);
    }
    // A part the store took is the chunk's bytes (its Content-MD5).
    const md5 = hash ? hash.digest('hex') : expected;
    if (md5 !== expected) throw new TransferError('CHUNK_MD5_MISMATCH');
    if (kept) {
      const staged = await this.foldKept(target, kept, state.uploadId, abandoned.signal);
      return staged ?? this.asChunkObject(kept, md5);
    }
    if (fold) {
      const { md5State, sha256State } = fold.saved();
      // The part is in: the fold moves past it (a duplicate of this chunk may have moved it first).
      await this.update(target.fileId, { state, etag }, state.uploadId, (now) =>
        now.next === index ? { ...now, next: index + 1, md5State, sha256State } : undefined,
      );
      this.wake(target.fileId);
    }
    const staged: PartStaged = {
      kind: 'part',
      md5,
      size,
      fileId: target.fileId,
      index,
      uploadId: state.uploadId,
    };
    return staged;
  }

  /**
   * Folds the bytes of a chunk sent ahead of its turn once the fold reaches it; undefined when
   * the fold stops moving for waitMs or waits for a chunk object (the chunk becomes one too).
   */
  private async foldKept(
    target: ChunkTarget,
    kept: Buffer[],
    uploadId: string,
    signal: AbortSignal,
  ): Promise<PartStaged | undefined> {
    const { fileId, index } = target;
    const staged: PartStaged = { kind: 'part', md5: '', size: target.length, fileId, index, uploadId };
    const wait = this.waitFor(fileId);
    let woken = true;
    for (;;) {
      if (signal.aborted) throw mapS3Error(signal.reason);
      const viewed = woken ? this.known.get(fileId) : undefined;
      const read = viewed ?? (await this.read(fileId));
      if (read?.state.uploadId !== uploadId) {
        if (viewed) {
          woken = false;
          continue;
        }
        throw new TransferError('UPLOAD_BUSY', 'The upload changed while this chunk was sent.');
      }
      const s = read.state;
      if (s.next > index) return { ...staged, md5: s.md5s[index]! };
      if (s.next === index) {
        const fold = await PartFold.of(s);
        await fold.feed(kept);
        const { md5State, sha256State } = fold.saved();
        await this.update(fileId, read, uploadId, (now) =>
          now.next === index ? { ...now, next: index + 1, md5State, sha256State } : undefined,
        );
        this.wake(fileId);
        return { ...staged, md5: s.md5s[index]! };
      }
      if (await wait.stuck(s)) return undefined;
      woken = await wait.nap(s);
    }
  }

  /** How a chunk waits for the fold to reach it (turn, foldKept). */
  private waitFor(fileId: string) {
    let seen = -1;
    let since = Date.now();
    let looked = false;
    const foldsHere = (s: PartState) => this.folding.has(slotOf(fileId, s.next));
    return {
      /**
       * Whether the chunk is to be a chunk object instead: the fold did not move for waitMs, or the
       * chunk it waits for is a chunk object (nobody will send it again).
       */
      stuck: async (s: PartState): Promise<boolean> => {
        if (s.next !== seen) {
          seen = s.next;
          since = Date.now();
          looked = false;
        } else if (Date.now() - since >= this.waitMs) return true;
        // One this process folds is no chunk object; looked at if it ends without folding.
        if (looked || foldsHere(s)) return false;
        looked = true;
        return this.bucket.exists(this.bucket.keys.chunk(fileId, s.md5s[s.next] ?? ''));
      },
      /**
       * Naps; resolves whether the next look may be at this process's view: after a local wake,
       * or while this process still holds the chunk the fold waits for (it wakes us when it ends).
       */
      nap: async (s: PartState): Promise<boolean> => (await this.nap(fileId)) || foldsHere(s),
    };
  }

  /**
   * Replaces parts.json with change(current), re-reading it when another request wrote it first;
   * change returns undefined when there is nothing to write. Resolves whether it wrote, and the
   * state it wrote or, when it did not, read.
   */
  private update(
    fileId: string,
    read: ReadState | undefined,
    uploadId: string,
    change: (now: PartState) => PartState | undefined,
  ): Promise<{ wrote: boolean; state: PartState }> {
    return this.writes.run(fileId, () =>
      // The newest view: a write of this process queued before this one may have changed it.
      this.write(fileId, this.known.get(fileId) ?? read, uploadId, change),
    );
  }

  private async write(
    fileId: string,
    read: ReadState | undefined,
    uploadId: string,
    change: (now: PartState) => PartState | undefined,
  ): Promise<{ wrote: boolean; state: PartState }> {
    let current = read;
    // Whether `current` was just read (else it may be this process's older view).
    let fresh = false;
    for (let attempt = 0; ; attempt++) {
      // Removed, or another multipart upload since (the upload was removed and begun again).
      if (current?.state.uploadId !== uploadId) {
        if (!fresh) {
          current = await this.read(fileId);
          fresh = true;
          continue;
        }
        throw new TransferError('UPLOAD_BUSY', 'The upload changed while this chunk was sent.');
      }
      const next = change(current.state);
      if (!next) {
        if (fresh) return { wrote: false, state: current.state };
        current = await this.read(fileId);
        fresh = true;
        continue;
      }
      try {
        const etag = await this.bucket.putJson(this.key(fileId), next, { IfMatch: current.etag ?? '*' });
        if (etag) this.remember(fileId, { state: next, etag });
        else this.known.delete(fileId);
        return { wrote: true, state: next };
      } catch (err: unknown) {
        if (!(err instanceof TransferError && err.code === 'UPLOAD_BUSY') || attempt >= 20) throw err;
      }
      current = await this.read(fileId);
      fresh = true;
    }
  }

  /** Makes a staged part held. False if it was held already. */
  async commit(staged: PartStaged, fileId: string): Promise<boolean> {
    if (staged.fileId !== fileId) throw new TransferError('INTERNAL', 'a part committed to another upload');
    const { index } = staged;
    // Until a commit has recorded whether chunk objects may exist (PartState.objects), each lists
    // them: after this parts.json was created (the part was sent into its multipart upload), so
    // any chunk object committed before shows, and any committed later marks it itself.
    const unknown = this.known.get(fileId)?.state.objects === undefined;
    const objects = unknown ? await this.holdsObjects(fileId) : undefined;
    // From this process's view (update's), else a read.
    const { wrote, state } = await this.update(fileId, undefined, staged.uploadId, (now) =>
      now.next > index && !now.held.includes(index)
        ? { ...now, held: [...now.held, index].sort((a, b) => a - b), objects: now.objects ?? objects }
        : undefined,
    );
    this.afterCommit.set(staged, { fileId, state });
    return wrote;
  }

  /**
   * After a chunk object's commit (its copy made): parts.json, if there is one, says from now on
   * that chunk objects may exist. What it found is remembered for the receipt (committedState).
   */
  async noteObject(fileId: string, committed: StagedChunk): Promise<void> {
    for (let attempt = 0; ; attempt++) {
      const read = await this.read(fileId);
      let state = read?.state ?? null;
      try {
        if (read && read.state.objects !== true) {
          const marked = await this.update(fileId, read, read.state.uploadId, (now) =>
            now.objects === true ? undefined : { ...now, objects: true },
          );
          state = marked.state;
        }
      } catch (err: unknown) {
        // Another multipart upload meanwhile (the upload was removed and begun again): mark that one.
        if (err instanceof TransferError && err.code === 'UPLOAD_BUSY' && attempt < 3) continue;
        throw err;
      }
      this.afterCommit.set(committed, { fileId, state });
      return;
    }
  }

  /** Whether the upload holds any chunk object: a listing of one key. */
  private async holdsObjects(fileId: string): Promise<boolean> {
    try {
      const page = await this.bucket.client.send(
        new ListObjectsV2Command({
          Bucket: this.bucket.name,
          Prefix: this.bucket.keys.chunks(fileId),
          MaxKeys: 1,
        }),
      );
      return (page.KeyCount ?? page.Contents?.length ?? 0) > 0;
    } catch (err: unknown) {
      throw mapS3Error(err);
    }
  }

  /**
   * What this request's commit of `committed` left in parts.json (state null: there was none), or
   * undefined when it did not commit it here.
   */
  committedState(fileId: string, committed: StagedChunk): { state: PartState | null } | undefined {
    const after = this.afterCommit.get(committed);
    return after?.fileId === fileId ? after : undefined;
  }

  /** MD5 → size of the chunks held as parts, as read now. */
  async held(fileId: string): Promise<Map<string, number>> {
    return heldParts((await this.read(fileId))?.state);
  }

  /**
   * Assembles the upload from its parts when its plan is the one parts.json was opened for:
   * folds the chunk objects from `next` on (read back: they came out of order), verifies (against
   * expectedMd5: options.md5 when given, as for every other path), and completes, or finds the file published already (the multipart upload is then aborted).
   * Undefined: not an upload sent as parts, for assembly.ts.
   */
  async assemble(
    fileId: string,
    options: AssembleOptions,
  ): Promise<{ kind: 'published'; key: string } | { kind: 'existing'; file: PublishedFile } | undefined> {
    const read = await this.read(fileId);
    if (!read || read.state.md5s.join() !== options.md5s.join()) return undefined;
    const s = read.state;
    const sizes = sizesOf(s);
    if (options.expectedSize !== null && options.expectedSize !== s.size)
      throw new TransferError('SIZE_MISMATCH');
    const fold = await PartFold.of(s);
    for (let i = s.next; i < s.md5s.length; i++) {
      const bytes = await fold.feed(this.chunkBytes(fileId, s.md5s[i]!));
      if (bytes !== sizes[i]) throw new TransferError('SIZE_MISMATCH');
    }
    const d: Digests = fold.digests();
    const expected = expectedMd5(fileId, options);
    checkDigests(d, expected, options.sha256 ?? s.sha256);
    const Key = this.bucket.keys.file(s.target);
    const where = await publicationOf(expected, d.sha256, true, this.stat);
    if (where.kind === 'existing') {
      await this.abortUpload(Key, s.uploadId);
      return where;
    }
    if (where.key !== s.target) {
      await this.drop(fileId, s);
      throw new TransferError('UPLOAD_BUSY', 'A twin of this file was published meanwhile: send it again.');
    }
    try {
      await this.complete(fileId, s, sizes, Key);
    } catch (err: unknown) {
      // Another request completed it first (both verified the same bytes): that file is the answer.
      const done = await this.stat(s.target).catch(() => undefined);
      if (done?.sha256 === d.sha256 && done.size === s.size) return { kind: 'published', key: s.target };
      throw mapS3Error(err);
    }
    return { kind: 'published', key: s.target };
  }

  private async complete(fileId: string, s: PartState, sizes: number[], Key: string): Promise<void> {
    const { client, name: Bucket } = this.bucket;
    const UploadId = s.uploadId;
    // The chunks that came as chunk objects: copied into their parts inside the store.
    const limit = pLimit(4);
    await Promise.all(
      s.md5s.slice(s.next).map((m, j) =>
        limit(() =>
          client.send(
            new UploadPartCopyCommand({
              Bucket,
              Key,
              UploadId,
              PartNumber: s.next + j + 1,
              CopySource: `${Bucket}/${this.bucket.keys.chunk(fileId, m)}`,
            }),
            this.bucket.copyCall,
          ),
        ),
      ),
    );
    // What the store will join: every part there, of its chunk's size and (where the ETag is the
    // MD5, as without SSE-KMS) of its chunk's bytes.
    const parts = new Map<number, Part>();
    let marker: string | undefined;
    do {
      const page = await client.send(
        new ListPartsCommand({ Bucket, Key, UploadId, PartNumberMarker: marker }),
      );
      for (const p of page.Parts ?? []) if (p.PartNumber) parts.set(p.PartNumber, p);
      marker = page.IsTruncated ? page.NextPartNumberMarker : undefined;
    } while (marker);
    const Parts = s.md5s.map((m, i) => {
      const p = parts.get(i + 1);
      const etag = (p?.ETag ?? '').replaceAll('"', '');
      if (!p || p.Size !== sizes[i] || (isMd5Hex(etag) && etag !== m))
        throw new TransferError('INTERNAL', `part ${i + 1} of the upload is not its chunk`);
      return { PartNumber: i + 1, ETag: p.ETag };
    });
    await client.send(
      new CompleteMultipartUploadCommand({ Bucket, Key, UploadId, MultipartUpload: { Parts } }),
      this.bucket.copyCall,
    );
  }

  private async *chunkBytes(fileId: string, md5: string): AsyncIterable<Buffer> {
    let res: { Body?: unknown };
    try {
      res = await this.bucket.client.send(
        new GetObjectCommand({ Bucket: this.bucket.name, Key: this.bucket.keys.chunk(fileId, md5) }),
      );
    } catch (err: unknown) {
      if (notFound(err)) throw new TransferError('INTERNAL', 'a chunk of the plan is missing');
      throw err;
    }
    for await (const buf of res.Body as Readable) yield buf as Buffer;
  }

  /**
   * When one of these chunks is folded (a part below `next`): parts.json goes and the multipart
   * upload is aborted, every part with it. The saved MD5 and SHA-256 fold those parts in order,
   * and no part can be taken out of them. Chunks from `next` on are chunk objects (chunks.ts).
   */
  async removeIfCovering(fileId: string, md5s: ReadonlySet<string>): Promise<void> {
    const read = await this.read(fileId);
    if (!read?.state.md5s.slice(0, read.state.next).some((m) => md5s.has(m))) return;
    await this.drop(fileId, read.state);
  }

  /** parts.json, then the multipart upload it named (a crash between leaves it to the sweeper). */
  private async drop(fileId: string, state: PartState): Promise<void> {
    this.known.delete(fileId);
    await this.bucket.delete(this.key(fileId));
    await this.abort(state);
  }

  /** Aborts the multipart upload a parts.json named (the upload is being removed). */
  async abort(state: PartState): Promise<void> {
    await this.abortUpload(this.bucket.keys.file(state.target), state.uploadId);
  }

  close(): void {
    this.streamClient.destroy();
  }

  private async abortUpload(Key: string, UploadId: string): Promise<void> {
    await this.bucket.client
      .send(new AbortMultipartUploadCommand({ Bucket: this.bucket.name, Key, UploadId }))
      .catch((err: unknown) => {
        if (!noSuchUpload(err)) throw mapS3Error(err);
      });
  }

  /**
   * Whether a multipart upload to files/<key> is an upload's parts (its parts.json names it), which
   * the sweeper must leave however old: the upload's own expiry aborts it.
   */
  async owns(fileKey: string, uploadId: string): Promise<boolean> {
    // Sent as parts only with a declared SHA-256: the upload's key is <md5>-<sha16>, whichever key it publishes to.
    const prefix = `${this.bucket.keys.uploads()}${md5OfKey(fileKey)}-`;
    const page = await this.bucket.client.send(
      new ListObjectsV2Command({ Bucket: this.bucket.name, Prefix: prefix, Delimiter: '/' }),
    );
    for (const p of page.CommonPrefixes ?? []) {
      const upload = (p.Prefix ?? '').slice(this.bucket.keys.uploads().length, -1);
      if ((await this.read(upload))?.state.uploadId === uploadId) return true;
    }
    return false;
  }

  /** Resolves after POLL_MS, or as soon as a commit in this process moves the upload's fold. */
  private nap(fileId: string): Promise<boolean> {
    return new Promise((resolve) => {
      const set = this.waiters.get(fileId) ?? new Set();
      this.waiters.set(fileId, set);
      const done = (woken: boolean) => {
        clearTimeout(timer);
        set.delete(done);
        if (set.size === 0) this.waiters.delete(fileId);
        resolve(woken);
      };
      const timer = setTimeout(() => done(false), POLL_MS);
      set.add(done);
    });
  }

  /** Wakes this process's chunks waiting on the upload: they look at the state it just wrote. */
  private wake(fileId: string): void {
    for (const done of [...(this.waiters.get(fileId) ?? [])]) done(true);
  }
}
